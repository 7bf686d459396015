"""Webhook subscriptions and their delivery log, per organisation.

Members of the organisation see them; only its admins create, deactivate and replay. Anyone
else — including members of partner organisations — gets a 404.
"""

import json
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from partnership.lists import EXPORT, export_response, list_context
from partnership.models import Organization, Partnership
from partnership.permissions import is_org_admin
from partnership.tabular import FORMATS

from . import lists, webhooks
from .models import WebhookDelivery, WebhookSubscription

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class WebhookSubscriptionForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=webhooks.event_choices,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["url", "events", "partnership"]
        help_texts = {
            "url": gettext_lazy("Must use https (http only for localhost)."),
        }

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.organization = organization
        field = self.fields["partnership"]
        field.queryset = (
            Partnership.objects.filter(Q(oem=organization) | Q(ems=organization))
            .with_parties()
            .order_by("oem__name", "ems__name")
        )
        field.empty_label = _("All partnerships of %(org)s") % {"org": organization.name}
        field.label = _("Partnership")

    def clean_url(self):
        url = self.cleaned_data["url"]
        parts = urlsplit(url)
        if parts.scheme != "https" and not (
            settings.DEBUG or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)
        ):
            raise ValidationError(_("Use an https:// URL."))
        return url


def _member_org(request, pk) -> Organization:
    """An organisation the user is a member of, else 404 (partners' members included)."""
    return get_object_or_404(Organization.objects.filter(memberships__user=request.user), pk=pk)


def _admin_org(request, pk) -> Organization:
    organization = _member_org(request, pk)
    if not is_org_admin(request.user, organization):
        raise PermissionDenied
    return organization


@login_required
@require_safe
def subscription_list(request, pk):
    organization = _member_org(request, pk)
    spec = lists.WebhookList()
    if request.GET.get(EXPORT) in FORMATS:
        return export_response(request, spec, organization, request.GET[EXPORT])
    ctx = list_context(request, spec, organization)
    labels = dict(webhooks.event_choices())
    rows = [(s, [labels.get(e, e) for e in s.events]) for s in ctx["object_list"]]
    return render(
        request,
        "integrations/webhooks.html",
        {
            **ctx,
            "organization": organization,
            "rows": rows,
            "is_admin": is_org_admin(request.user, organization),
            "headers": {
                "event": webhooks.EVENT_HEADER,
                "delivery": webhooks.DELIVERY_HEADER,
                "timestamp": webhooks.TIMESTAMP_HEADER,
                "signature": webhooks.SIGNATURE_HEADER,
            },
        },
    )


@login_required
def subscription_create(request, pk):
    organization = _admin_org(request, pk)
    form = WebhookSubscriptionForm(request.POST or None, organization=organization)
    if request.method == "POST":
        if form.is_valid():
            subscription = form.save(commit=False)
            subscription.organization = organization
            subscription.created_by = request.user
            subscription.save()
            return render(
                request,
                "integrations/webhooks_secret.html",
                {"organization": organization, "subscription": subscription},
                status=201,
            )
        return render(
            request,
            "integrations/webhooks_form.html",
            {"organization": organization, "form": form},
            status=400,
        )
    return render(
        request, "integrations/webhooks_form.html", {"organization": organization, "form": form}
    )


@login_required
@require_POST
def subscription_deactivate(request, pk, subscription_pk):
    organization = _admin_org(request, pk)
    subscription = get_object_or_404(organization.webhooks, pk=subscription_pk)
    if subscription.active:
        webhooks.deactivate(subscription)
        messages.success(request, _("Webhook %(url)s deactivated.") % {"url": subscription.url})
    return redirect("webhooks:list", pk=organization.pk)


@login_required
@require_safe
def delivery_log(request, pk):
    organization = _member_org(request, pk)
    spec = lists.DeliveryList()
    if request.GET.get(EXPORT) in FORMATS:
        return export_response(request, spec, organization, request.GET[EXPORT])
    subscription = None
    if request.GET.get("subscription", "").isdigit():
        subscription = get_object_or_404(organization.webhooks, pk=request.GET["subscription"])
    ctx = list_context(request, spec, organization)
    deliveries = list(ctx["object_list"])
    for delivery in deliveries:
        delivery.payload_json = json.dumps(delivery.payload, indent=2, sort_keys=True)
    ctx.update(
        organization=organization,
        deliveries=deliveries,
        subscription=subscription,
        is_admin=is_org_admin(request.user, organization),
    )
    return render(request, "integrations/webhooks_deliveries.html", ctx)


@login_required
@require_POST
def delivery_replay(request, pk, delivery_pk):
    organization = _admin_org(request, pk)
    delivery = get_object_or_404(
        WebhookDelivery.objects.filter(subscription__organization=organization).select_related(
            "subscription"
        ),
        pk=delivery_pk,
    )
    try:
        webhooks.replay(delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Replay of %(event)s queued to %(url)s.")
            % {"event": delivery.event, "url": delivery.subscription.url},
        )
    return redirect("webhooks:deliveries", pk=organization.pk)
