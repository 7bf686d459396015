"""Routes of the schedules API. ``partnership.api.urls`` calls :func:`register` on its router,
so everything lives under ``/api/v1/``."""

from .views import (
    CapacityAlertViewSet,
    CapacityViewSet,
    DemandPublicationViewSet,
    LongLeadItemViewSet,
    PriorityRequestViewSet,
    ProductionRunViewSet,
    ProductViewSet,
    RunChangeViewSet,
)

REGISTRATIONS = [
    ("products", ProductViewSet, "product"),
    ("production-runs", ProductionRunViewSet, "production-run"),
    ("priority-requests", PriorityRequestViewSet, "priority-request"),
    ("capacity", CapacityViewSet, "capacity"),
    ("demand-publications", DemandPublicationViewSet, "demand-publication"),
    ("capacity-alerts", CapacityAlertViewSet, "capacity-alert"),
    ("long-lead-items", LongLeadItemViewSet, "long-lead-item"),
    ("run-changes", RunChangeViewSet, "run-change"),
]


def register(router):
    for prefix, viewset, basename in REGISTRATIONS:
        router.register(prefix, viewset, basename=basename)
    return router
