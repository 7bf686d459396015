"""Routes of the audits API. ``partnership.api.urls`` calls :func:`register` on its router,
so everything lives under ``/api/v1/``."""

from .views import (
    AuditTemplateViewSet,
    AuditViewSet,
    CertificateViewSet,
    CorrectiveActionViewSet,
    FindingViewSet,
    KpiViewSet,
    ScorecardViewSet,
)

REGISTRATIONS = [
    ("audit-templates", AuditTemplateViewSet, "audit-template"),
    ("audits", AuditViewSet, "audit"),
    ("findings", FindingViewSet, "finding"),
    ("corrective-actions", CorrectiveActionViewSet, "corrective-action"),
    ("certificates", CertificateViewSet, "certificate"),
    ("kpis", KpiViewSet, "kpi"),
    ("scorecards", ScorecardViewSet, "scorecard"),
]


def register(router):
    for prefix, viewset, basename in REGISTRATIONS:
        router.register(prefix, viewset, basename=basename)
    return router
