"""The portal's URLs plus the benchmarks' floor view (used only by ``bench/``)."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("__bench__/floor/<int:partnership_pk>/", views.floor, name="bench_floor"),
    path("", include("partnership.urls")),
]
