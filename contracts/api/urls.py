"""Routes of the contracts API. ``partnership.api.urls`` calls :func:`register` on its router,
so everything lives under ``/api/v1/``."""

from .views import ContractViewSet, DecisionRequestViewSet

REGISTRATIONS = [
    ("contracts", ContractViewSet, "contract"),
    ("decision-requests", DecisionRequestViewSet, "decision-request"),
]


def register(router):
    for prefix, viewset, basename in REGISTRATIONS:
        router.register(prefix, viewset, basename=basename)
    return router
