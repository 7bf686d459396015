"""Routes of the communications API. ``partnership.api.urls`` calls :func:`register` on its
router, so everything lives under ``/api/v1/``."""

from .views import ActionItemViewSet, GoalViewSet, MeetingViewSet, ProblemViewSet

REGISTRATIONS = [
    ("meetings", MeetingViewSet, "meeting"),
    ("action-items", ActionItemViewSet, "action-item"),
    ("problems", ProblemViewSet, "problem"),
    ("goals", GoalViewSet, "goal"),
]


def register(router):
    for prefix, viewset, basename in REGISTRATIONS:
        router.register(prefix, viewset, basename=basename)
    return router
