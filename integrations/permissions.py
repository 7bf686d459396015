"""Scopes of organisation API keys: which domains a key may read or write.

A view belongs to a domain (one of ``ApiKey.DOMAINS``). By default the domain is the app the
view class lives in (``contracts.api.views`` → ``contracts``; ``integrations`` → ``webhooks``);
a view may set ``api_domain`` to say otherwise. Scopes only narrow what a key may do: the
service user's role and the partnership scoping still apply on top.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import permissions

from .models import ApiKey

# App (first part of the module path) → domain, where they differ.
APP_DOMAINS = {"integrations": "webhooks"}


def domain_of(view) -> str | None:
    """The domain of a view (instance or class), or None if it belongs to none."""
    explicit = getattr(view, "api_domain", None)
    if explicit:
        return explicit
    cls = view if isinstance(view, type) else type(view)
    app = cls.__module__.split(".", 1)[0]
    domain = APP_DOMAINS.get(app, app)
    return domain if domain in ApiKey.DOMAINS else None


class ApiKeyScopePermission(permissions.BasePermission):
    """Requests made with an API key need a scope for the view's domain.

    Safe methods need ``<domain>:read`` (or write), everything else ``<domain>:write``;
    ``*:read``/``*:write`` cover every domain. An action that POSTs only to compute an answer
    (a dry run) declares ``@action(…, changes_nothing=True)`` and needs only the read scope.
    Other requests are not affected.
    """

    code = "insufficient_scope"
    message = gettext_lazy("This API key's scopes do not allow this request.")

    def has_permission(self, request, view):
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        from rest_framework.routers import APIRootView  # not at import: DRF settings load this

        write = request.method not in permissions.SAFE_METHODS and not getattr(
            view, "changes_nothing", False
        )
        if isinstance(view, APIRootView):
            return not write  # just the list of endpoints
        domain = domain_of(view)
        if domain is None:
            self.message = _("This endpoint is not available to API keys.")
            return False
        if key.allows(domain, write=write):
            return True
        needed = f"{domain}:{'write' if write else 'read'}"
        self.message = _("This API key lacks the scope %(scope)s (it has: %(scopes)s).") % {
            "scope": needed,
            "scopes": ", ".join(key.scopes) or _("none"),
        }
        return False
