import contextlib
import zoneinfo

from django.utils import timezone, translation
from django.utils.functional import SimpleLazyObject

from .models import Membership

SESSION_KEY = "active_organization_id"


def _memberships(request):
    if not request.user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=request.user).select_related("organization"))


def _active_membership(request):
    memberships = request.memberships
    if not memberships:
        return None
    wanted = request.session.get(SESSION_KEY)
    for m in memberships:
        if m.organization_id == wanted:
            return m
    return memberships[0]


class ActiveOrganizationMiddleware:
    """Sets ``request.memberships`` and ``request.active_membership`` (lazily).

    A user who belongs to several organisations acts as one at a time (the switcher in the
    navigation); the dashboard shows that organisation's partnerships. Access control itself
    never depends on it: scoping always uses all of the user's memberships.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.memberships = SimpleLazyObject(lambda: _memberships(request))
        request.active_membership = SimpleLazyObject(lambda: _active_membership(request))
        return self.get_response(request)


def activate_zone_of(user, organization=None) -> None:
    """Put the rest of this request in ``user``'s zone (else ``organization``'s, else their first
    organisation's), as the pages' :class:`UserTimezoneMiddleware` does for a session — for
    callers the middleware could not know yet: the API's token and key authentication. A
    service that reads "today" then reads the same day whichever path the user took. The
    middleware's ``timezone.override`` around the request restores the thread afterwards."""
    name = user.time_zone or (organization.time_zone if organization else "")
    if not name:
        name = (
            Membership.objects.filter(user=user)
            .order_by("pk")
            .values_list("organization__time_zone", flat=True)
            .first()
        )
    try:
        timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        timezone.deactivate()


class UserTimezoneMiddleware:
    """Shows times in the user's zone, else their active organisation's, else UTC.

    Also applies the user's chosen language over the browser's.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tz_name, language = "", None
        if request.user.is_authenticated:
            if request.user.language:
                language = request.user.language
                request.LANGUAGE_CODE = language
            tz_name = request.user.time_zone
            if not tz_name and request.active_membership:
                tz_name = request.active_membership.organization.time_zone
        try:
            zone = zoneinfo.ZoneInfo(tz_name) if tz_name else None
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = None
        # For this request only: activate() would leave the thread in the user's language and
        # zone for whatever it runs next (a test, a task, an anonymous request's error page).
        in_language = translation.override(language) if language else contextlib.nullcontext()
        with in_language, timezone.override(zone):
            response = self.get_response(request)
        if language:
            response.headers.setdefault("Content-Language", language)
        return response
