"""Rate limits: each API key has its own (``ApiKey.throttle_rate``); people keep the user rate.

A throttled request answers 429 with a ``Retry-After`` header (DRF) and the project's error
body with ``retry_after`` in seconds (``partnership.api.errors``).
"""

from rest_framework import throttling

from .models import ApiKey


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Per-key limit, keyed by the key's id, at the key's own ``throttle_rate`` (e.g. "600/min").

    ``DEFAULT_THROTTLE_RATES["api_key"]`` is the fallback for a key whose rate cannot be read.
    """

    scope = "api_key"

    def allow_request(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        if key.throttle_rate:
            try:
                self.num_requests, self.duration = self.parse_rate(key.throttle_rate)
            except (ValueError, KeyError, IndexError):
                pass  # a malformed rate falls back to the default, it does not lift the limit
            else:
                self.rate = key.throttle_rate
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class UserRateThrottle(throttling.UserRateThrottle):
    """DRF's per-user limit for people (sessions, personal tokens); API keys have their own."""

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            return None
        return super().get_cache_key(request, view)
