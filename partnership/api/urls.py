from rest_framework.routers import DefaultRouter

from contracts.api.urls import register as register_contracts

from .views import OrganizationViewSet, PartnershipViewSet

router = DefaultRouter()
router.register("partnerships", PartnershipViewSet, basename="partnership")
router.register("organizations", OrganizationViewSet, basename="organization")
register_contracts(router)

urlpatterns = router.urls
