from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from comms import views as comms_views

from . import history_views, job_views, lookups, views

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path(
        "partnerships/<int:partnership_pk>/",
        views.PartnershipDetailView.as_view(),
        name="partnership_detail",
    ),
    path(
        "partnerships/<int:partnership_pk>/edit/",
        views.PartnershipEditView.as_view(),
        name="partnership_edit",
    ),
    path(
        "partnerships/<int:partnership_pk>/history/",
        views.PartnershipHistoryView.as_view(),
        name="partnership_history",
    ),
    path(
        "partnerships/<int:partnership_pk>/history/<slug:kind>/<int:object_pk>/",
        history_views.ObjectHistoryView.as_view(),
        name="object_history",
    ),
    path(
        "partnerships/<int:partnership_pk>/history/<slug:kind>/<int:object_pk>/export.<str:fmt>",
        history_views.object_history_export,
        name="object_history_export",
    ),
    path(
        "partnerships/<int:partnership_pk>/audit-trail/",
        history_views.AuditTrailView.as_view(),
        name="audit_trail",
    ),
    path(
        "partnerships/<int:partnership_pk>/audit-trail/export.<str:fmt>",
        history_views.audit_trail_export,
        name="audit_trail_export",
    ),
    path(
        "partnerships/<int:partnership_pk>/lookup/<slug:kind>/",
        lookups.lookup,
        name="lookup",
    ),
    path(
        "organizations/<int:pk>/",
        views.OrganizationDetailView.as_view(),
        name="organization_detail",
    ),
    path(
        "organizations/<int:pk>/edit/",
        views.OrganizationEditView.as_view(),
        name="organization_edit",
    ),
    path("organizations/<int:pk>/invitations/", views.invite_member, name="invite_member"),
    path(
        "organizations/<int:pk>/invitations/<int:invitation_pk>/revoke/",
        views.revoke_invitation,
        name="revoke_invitation",
    ),
    path(
        "organizations/<int:pk>/members/<int:membership_pk>/role/",
        views.change_member_role,
        name="change_member_role",
    ),
    path(
        "organizations/<int:pk>/members/<int:membership_pk>/remove/",
        views.remove_member,
        name="remove_member",
    ),
    path("organizations/<int:pk>/api-keys/", include("integrations.urls")),
    path("organizations/<int:pk>/webhooks/", include("integrations.webhook_urls")),
    path("invitations/<str:token>/", views.accept_invitation, name="invitation_accept"),
    path("switch-organization/", views.switch_organization, name="switch_organization"),
    path("notifications/", views.notifications, name="notifications"),
    path("jobs/<int:pk>/", job_views.job_status, name="job"),
    path("jobs/<int:pk>/download/", job_views.job_download, name="job_download"),
    path(
        "partnerships/<int:partnership_pk>/audits/reports.zip",
        job_views.audit_reports_zip,
        name="audit_reports_zip",
    ),
    path("settings/profile/", views.profile, name="profile"),
    path("settings/tokens/", views.api_tokens, name="api_tokens"),
    path("settings/tokens/<int:pk>/revoke/", views.revoke_api_token, name="revoke_api_token"),
    path("", include("contracts.urls")),
    path("", include("schedules.urls")),
    path("", include("audits.urls")),
    path("", include("comms.urls")),
    path("settings/calendar/", comms_views.calendar_settings, name="calendar_settings"),
    path("calendar/<str:token>.ics", comms_views.calendar_feed, name="calendar_feed"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    # API
    path("api/v1/", include("partnership.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Swagger UI loads its set-up script from this same view (``?script``): no inline script.
    # Both API viewers style their elements inline: only their pages allow that.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api_schema")
        ),
        name="api_docs",
    ),
    # Redoc alone runs its search in a blob: web worker; only its page allows that.
    path(
        "api/redoc/",
        csp_update({"worker-src": ["'self'", "blob:"], "style-src": [UNSAFE_INLINE]})(
            SpectacularRedocView.as_view(url_name="api_schema")
        ),
        name="api_redoc",
    ),
]
