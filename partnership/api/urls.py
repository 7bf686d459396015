from rest_framework.routers import DefaultRouter

from .views import OrganizationViewSet, PartnershipViewSet

router = DefaultRouter()
router.register("partnerships", PartnershipViewSet, basename="partnership")
router.register("organizations", OrganizationViewSet, basename="organization")

urlpatterns = router.urls
