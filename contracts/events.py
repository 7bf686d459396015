"""What contracts tells the event path (``partnership.events``): its kinds of object and the
events offered to webhooks. Registered from ``ContractsConfig.ready``."""

from django.utils.translation import gettext_lazy as _

from partnership.registry import (
    EventKind,
    WebhookEvent,
    register_event_kind,
    register_webhook_event,
)

#: The actions that answer a decision request (its webhook ``decision_request.answered``).
ANSWERS = frozenset({"approved", "rejected", "acknowledged", "deemed_accepted"})


def register():
    register_event_kind(
        EventKind("contract", "contracts.Contract", "contracts", "contract-detail"),
        EventKind(
            "decision_request",
            "contracts.DecisionRequest",
            "decision-requests",
            "decision-request-detail",
        ),
    )
    register_webhook_event(
        WebhookEvent(
            "decision_request.raised",
            _("Decision request raised"),
            "decision_request",
            frozenset({"raised"}),
        ),
        WebhookEvent(
            "decision_request.answered",
            _("Decision request answered"),
            "decision_request",
            ANSWERS,
        ),
    )
