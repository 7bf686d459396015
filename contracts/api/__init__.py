"""REST API for contracts and decision requests, registered under ``/api/v1/``."""
