from rest_framework.routers import DefaultRouter

from audits.api.urls import register as register_audits
from comms.api.urls import register as register_comms
from contracts.api.urls import register as register_contracts
from integrations.api import TombstoneViewSet
from schedules.api.urls import register as register_schedules

from .views import OrganizationViewSet, PartnershipViewSet

# No ``.json``-style suffix routes: the API speaks JSON only (content negotiation), and custom
# actions do not accept a ``format`` argument (the suffix variants answered 500).
router = DefaultRouter()
router.include_format_suffixes = False
router.register("partnerships", PartnershipViewSet, basename="partnership")
router.register("organizations", OrganizationViewSet, basename="organization")
register_contracts(router)
register_schedules(router)
register_audits(router)
register_comms(router)
router.register("tombstones", TombstoneViewSet, basename="tombstone")

urlpatterns = router.urls
