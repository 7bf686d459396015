"""Pages of the integrations app, included under ``organizations/<int:pk>/api-keys/``."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.api_keys, name="organization_api_keys"),
    path("<int:key_pk>/revoke/", views.revoke_api_key, name="revoke_organization_api_key"),
]
