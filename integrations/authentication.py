"""Machines authenticate with an organisation API key.

``Authorization: Bearer ppk_…`` or ``X-Api-Key: ppk_…``. The request then runs as the key's
service user (``request.user``) with the key itself as ``request.auth``, so scope checks
(:mod:`integrations.permissions`) and per-key throttling (:mod:`integrations.throttling`)
can see which key it was.
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from partnership.middleware import activate_zone_of

from .models import ApiKey

# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

KEYWORD = "Bearer"
HEADER = "HTTP_X_API_KEY"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Organisation API keys, stored as SHA-256 hashes."""

    def _presented_key(self, request) -> str | None:
        auth = authentication.get_authorization_header(request).split()
        if auth and auth[0].lower() == KEYWORD.lower().encode():
            if len(auth) != 2:
                raise exceptions.AuthenticationFailed(
                    _("Invalid Bearer header: send 'Authorization: Bearer <key>' with no spaces.")
                )
            try:
                value = auth[1].decode()
            except UnicodeError:
                raise exceptions.AuthenticationFailed(_("Invalid API key.")) from None
            # A bearer token that is not ours (another scheme's) is left to the other classes.
            return value if value.startswith(ApiKey.PREFIX) else None
        header = request.META.get(HEADER, "").strip()
        if header:
            if not header.startswith(ApiKey.PREFIX) or " " in header:
                raise exceptions.AuthenticationFailed(_("Invalid API key."))
            return header
        return None

    def authenticate(self, request):
        presented = self._presented_key(request)
        if presented is None:
            return None
        return self.authenticate_credentials(presented)

    def authenticate_credentials(self, presented: str):
        key = (
            ApiKey.objects.active()
            .select_related("acting_user", "organization")
            .filter(key_hash=ApiKey.hash_key(presented))
            .first()
        )
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
        if not key.acting_user.is_active:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked API key."))
        now = timezone.now()
        if not key.last_used_at or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        activate_zone_of(key.acting_user, key.organization)  # the organisation's "today"
        return key.acting_user, key

    def authenticate_header(self, request):
        # Makes unauthenticated requests answer 401 (with this challenge) rather than 403.
        return f'{KEYWORD} realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ppk_…",
            "description": (
                "Organisation API key: `Authorization: Bearer ppk_…` (or `X-Api-Key: ppk_…`). "
                "Organisation admins create keys with scopes (read or write per domain), "
                "a role and an expiry; each key has its own rate limit."
            ),
        }
