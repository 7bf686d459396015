"""Included by ``partnership.urls`` under ``organizations/<int:pk>/webhooks/``."""

from django.urls import path

from . import webhook_views as views

app_name = "webhooks"

urlpatterns = [
    path("", views.subscription_list, name="list"),
    path("new/", views.subscription_create, name="create"),
    path(
        "<int:subscription_pk>/deactivate/",
        views.subscription_deactivate,
        name="deactivate",
    ),
    path("deliveries/", views.delivery_log, name="deliveries"),
    path("deliveries/<int:delivery_pk>/replay/", views.delivery_replay, name="replay"),
]
