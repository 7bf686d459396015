"""REST API for products and readiness, production runs, capacity, demand and capacity alerts,
registered under ``/api/v1/``; ERP bulk upserts are keyed by ``external_id``."""
