from django.urls import path

from . import views

app_name = "audits"

P = "partnerships/<int:partnership_pk>/"

urlpatterns = [
    path(P + "audits/", views.AuditListView.as_view(), name="audits"),
    path(P + "audits/<int:pk>/", views.AuditView.as_view(), name="audit"),
    path(P + "audits/<int:pk>/answer/", views.answer, name="answer"),
    path(P + "audits/<int:pk>/report.pdf", views.audit_pdf, name="report"),
    path(P + "audits/<int:pk>/evidence/<int:evidence_pk>/", views.evidence_file, name="evidence"),
    path(P + "findings/", views.FindingListView.as_view(), name="findings"),
    path(P + "findings/<int:pk>/", views.FindingView.as_view(), name="finding"),
    path(P + "scorecard/", views.ScorecardView.as_view(), name="scorecard"),
    path(P + "certificates/<int:pk>/file/", views.certificate_file, name="certificate_file"),
]
