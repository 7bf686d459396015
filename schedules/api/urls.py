"""Routes of the schedules API. ``partnership.api.urls`` calls :func:`register` on its router,
so everything lives under ``/api/v1/``."""

from .views import (
    CapacityAlertViewSet,
    CapacityViewSet,
    DemandPublicationViewSet,
    PriorityRequestViewSet,
    ProductionRunViewSet,
    ProductViewSet,
)

REGISTRATIONS = [
    ("products", ProductViewSet, "product"),
    ("production-runs", ProductionRunViewSet, "production-run"),
    ("priority-requests", PriorityRequestViewSet, "priority-request"),
    ("capacity", CapacityViewSet, "capacity"),
    ("demand-publications", DemandPublicationViewSet, "demand-publication"),
    ("capacity-alerts", CapacityAlertViewSet, "capacity-alert"),
]


def register(router):
    for prefix, viewset, basename in REGISTRATIONS:
        router.register(prefix, viewset, basename=basename)
    return router
