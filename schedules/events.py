"""What schedules tells the event path (``partnership.events``): its kinds of object and the
events offered to webhooks. Registered from ``SchedulesConfig.ready``.

The actions ``schedules.services`` emits, by kind (``changed=`` names the fields each one set;
the page, the API, the upsert by external id and the bulk upsert emit the same):

- ``product``: ``created``, ``changed``, ``released``, and its readiness as the ERP sees it:
  ``readiness_submitted``, ``readiness_approved``, ``readiness_rejected``, ``readiness_required``,
  ``readiness_optional`` (``data["item"]``; a withdrawn release in ``changed``);
- ``production_run``: ``created``, ``changed`` (``data["change"]``: the RunChange a committed
  run's change was judged by), ``confirmed``, ``dates_proposed``, ``dates_accepted``,
  ``dates_declined``, ``reprioritised``;
- ``priority_request``: ``created``, ``accepted``, ``declined``;
- ``capacity``: ``created``, ``changed`` (one per week published that is new or differs);
- ``demand_publication``: ``published`` (``data["breaches"]``), ``acknowledged``;
- ``capacity_alert``: ``opened``, ``worsened``, ``updated``, ``resolved``, ``acknowledged``;
- ``long_lead_item``: ``created``, ``changed``, ``deleted``.
"""

from django.utils.translation import gettext_lazy as _

from partnership.registry import (
    EventKind,
    WebhookEvent,
    register_event_kind,
    register_webhook_event,
)


def register():
    register_event_kind(
        EventKind("product", "schedules.Product", "products", "product-detail"),
        EventKind(
            "production_run", "schedules.ProductionRun", "production-runs", "production-run-detail"
        ),
        EventKind(
            "priority_request",
            "schedules.PriorityRequest",
            "priority-requests",
            "priority-request-detail",
            partnership="run.partnership_id",
        ),
        EventKind("capacity", "schedules.CapacityPlan", "capacity", "capacity-detail"),
        EventKind(
            "demand_publication",
            "schedules.DemandPublication",
            "demand-publications",
            "demand-publication-detail",
        ),
        EventKind(
            "capacity_alert", "schedules.CapacityAlert", "capacity-alerts", "capacity-alert-detail"
        ),
        EventKind(
            "long_lead_item", "schedules.LongLeadItem", "long-lead-items", "long-lead-item-detail"
        ),
    )
    register_webhook_event(
        WebhookEvent(
            "product.changed",
            _("Product created or changed (readiness and release included)"),
            "product",
        ),
        WebhookEvent(
            "production_run.changed",
            _("Production run changed"),
            "production_run",
        ),
        WebhookEvent(
            "capacity.changed", _("Capacity published (a week created or changed)"), "capacity"
        ),
        WebhookEvent(
            "demand.published",
            _("Demand forecast published"),
            "demand_publication",
            frozenset({"published"}),
        ),
        WebhookEvent(
            "capacity_alert.opened",
            _("Capacity alert opened"),
            "capacity_alert",
            frozenset({"opened"}),
        ),
        WebhookEvent(
            "long_lead_item.changed",
            _("Long-lead component created, changed or removed"),
            "long_lead_item",
        ),
    )
