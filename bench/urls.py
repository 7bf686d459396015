"""The portal's URLs plus the benchmarks' floor view (used only by ``bench/``)."""

from django.urls import include, path

from . import views

urlpatterns = [
    path("__bench__/rows/<str:what>/<int:partnership_pk>/<int:n>/", views.rows, name="bench_rows"),
    path("", include("partnership.urls")),
]
