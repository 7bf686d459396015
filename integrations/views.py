"""Pages for organisation admins: the organisation's API keys (create, list, revoke)."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from partnership.lists import EXPORT, export_response, list_context
from partnership.models import Organization, Role
from partnership.permissions import is_org_admin
from partnership.tabular import FORMATS

from . import lists, services
from .models import ApiKey


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What uses this key, e.g. 'SAP sync'."),
    )
    role = forms.ChoiceField(
        label=gettext_lazy("Acts as"),
        choices=[(r.value, r.label) for r in services.KEY_ROLES],
        initial=Role.VIEWER,
        help_text=gettext_lazy(
            "The key can do what a member with this role can do, within its scopes."
        ),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=[(s, s) for s in services.valid_scopes()],
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": gettext_lazy("Choose at least one scope."),
            "invalid_choice": gettext_lazy("Unknown scope: %(value)s."),
        },
    )
    expires_in_days = forms.TypedChoiceField(
        label=gettext_lazy("Expires"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=[
            ("30", gettext_lazy("in 30 days")),
            ("90", gettext_lazy("in 90 days")),
            ("365", gettext_lazy("in a year")),
            ("", gettext_lazy("never")),
        ],
        initial="90",
    )

    def scope_rows(self):
        """One row per domain with its read/write checkboxes, for the template's table."""
        chosen = set(self["scopes"].value() or [])
        domains = [*ApiKey.DOMAINS, "*"]
        return [
            {
                "domain": domain,
                "label": _("all domains") if domain == "*" else domain,
                "read": f"{domain}:read",
                "write": f"{domain}:write",
                "read_checked": f"{domain}:read" in chosen,
                "write_checked": f"{domain}:write" in chosen,
            }
            for domain in domains
        ]


def _admin_organization(request, pk):
    """The admin's own organisation: others' are 404, a member who is not admin gets 403."""
    organization = get_object_or_404(
        Organization.objects.filter(memberships__user=request.user).distinct(), pk=pk
    )
    if not is_org_admin(request.user, organization):
        raise PermissionDenied
    return organization


def _add_service_errors(form, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        for field, errs in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errs)
    else:
        form.add_error(None, exc)


@login_required
def api_keys(request, pk):
    organization = _admin_organization(request, pk)
    form = ApiKeyForm(request.POST or None)
    new_key = status = None
    if request.method == "POST":
        if form.is_valid():
            days = form.cleaned_data["expires_in_days"]
            try:
                key, new_key = services.issue_api_key(
                    by=request.user,
                    organization=organization,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    role=form.cleaned_data["role"],
                    expires_at=timezone.now() + timedelta(days=days) if days else None,
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, _("API key “%(name)s” created.") % {"name": key.name})
                form = ApiKeyForm()
        if new_key is None:
            status = 400
    spec = lists.ApiKeyList()
    if request.GET.get(EXPORT) in FORMATS:
        return export_response(request, spec, organization, request.GET[EXPORT])
    ctx = list_context(request, spec, organization)
    keys = list(ctx["object_list"])
    roles = dict(Role.choices)
    memberships = {
        m.user_id: m.role
        for m in organization.memberships.filter(user__in=[k.acting_user_id for k in keys])
    }
    now = timezone.now()
    rows = [
        {
            "key": k,
            "role": roles.get(memberships.get(k.acting_user_id), "—"),
            "status": "revoked"
            if k.revoked_at
            else "expired"
            if k.expires_at and k.expires_at <= now
            else "active",
        }
        for k in keys
    ]
    ctx.update(organization=organization, form=form, rows=rows, new_key=new_key)
    return render(request, "integrations/api_keys.html", ctx, status=status or 200)


@login_required
@require_POST
def revoke_api_key(request, pk, key_pk):
    organization = _admin_organization(request, pk)
    key = get_object_or_404(ApiKey.objects.filter(organization=organization), pk=key_pk)
    services.revoke_api_key(by=request.user, key=key)
    messages.success(request, _("API key “%(name)s” revoked.") % {"name": key.name})
    return redirect("organization_api_keys", pk=organization.pk)
