"""The one field for ids in request bodies: resolved only within the caller's scope."""

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partnership.models import Organization, User


class ScopedIdField(serializers.PrimaryKeyRelatedField):
    """An id resolved only among ``Model.objects.for_user(user)`` (or ``scope(user)``).

    Unknown, foreign and malformed ids get the same field error (a 400), so a body cannot be
    used to probe for objects outside the caller's partnerships. ``queryset`` names the model
    (and documents the field's type in the schema); ``message`` is the error to show.
    """

    def __init__(self, *, queryset, message=None, scope=None, **kwargs):
        self.scope = scope
        super().__init__(queryset=queryset, **kwargs)
        message = message or format_lazy(
            _("No {object} of yours has this id."), object=queryset.model._meta.verbose_name
        )
        self.error_messages["does_not_exist"] = message
        self.error_messages["incorrect_type"] = message

    def get_queryset(self):
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if self.scope is not None:
            return self.scope(user)
        return self.queryset.model.objects.for_user(user)


def people_of(user):
    """Members of the user's organisations and of their partners."""
    orgs = Organization.objects.for_user(user)
    return User.objects.filter(
        pk__in=User.objects.filter(memberships__organization__in=orgs).values("pk")
    )


def ScopedPersonField(**kwargs):
    """A user id among the people of the caller's partnerships."""
    kwargs.setdefault("message", _("No person in your partnerships has this id."))
    return ScopedIdField(queryset=User.objects.all(), scope=people_of, **kwargs)
