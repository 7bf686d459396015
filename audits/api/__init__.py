"""REST API for supplier audits: templates, audits and answers, findings and 8D actions,
certificates, KPIs and the scorecard — registered under ``/api/v1/`` by :mod:`.urls`."""
