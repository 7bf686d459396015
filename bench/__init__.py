"""Benchmarks and the bench data generator (see README, "Performance")."""
