from django.urls import path

from . import views

app_name = "schedules"

P = "partnerships/<int:partnership_pk>/"

urlpatterns = [
    path(P + "products/", views.ProductListView.as_view(), name="products"),
    path(P + "products/<int:pk>/", views.ProductDetailView.as_view(), name="product"),
    path(P + "products/<int:pk>/files/<int:file_pk>/", views.readiness_file, name="readiness_file"),
    path(P + "runs/", views.RunListView.as_view(), name="runs"),
    path(P + "runs/<int:pk>/", views.RunDetailView.as_view(), name="run"),
    path(P + "capacity/", views.CapacityView.as_view(), name="capacity"),
    path(P + "export/<str:what>.<str:fmt>", views.export_table, name="export"),
]
