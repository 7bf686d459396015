from django.urls import path

from . import views

app_name = "comms"

P = "partnerships/<int:partnership_pk>/"

urlpatterns = [
    path(P + "meetings/", views.MeetingListView.as_view(), name="meetings"),
    path(P + "meetings/<int:pk>/", views.MeetingView.as_view(), name="meeting"),
    path(P + "meetings/<int:pk>/invite.ics", views.meeting_ics, name="meeting_ics"),
    path(P + "meetings/<int:pk>/minutes.pdf", views.minutes_pdf, name="minutes_pdf"),
    path(P + "actions/", views.ActionListView.as_view(), name="actions"),
    path(P + "problems/", views.ProblemListView.as_view(), name="problems"),
    path(P + "problems/<int:pk>/", views.ProblemView.as_view(), name="problem"),
    path(
        P + "problems/<int:pk>/comments/<int:comment_pk>/file/",
        views.comment_attachment,
        name="comment_file",
    ),
    path(P + "goals/", views.GoalListView.as_view(), name="goals"),
    path("actions/", views.my_actions, name="my_actions"),
]
