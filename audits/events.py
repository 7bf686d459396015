"""What audits tells the event path (``partnership.events``): its kinds of object and the
events offered to webhooks. Registered from ``AuditsConfig.ready``.

The actions ``audits.services`` emits, by kind (``changed=`` names the fields each one set):

- ``audit``: ``created`` (planned), ``started``, ``answered`` (one per recorded answer, either
  side; the recomputed score fields in ``changed``), ``evidence_added``, ``changed`` (the
  recommendation), ``report_issued``, ``closed``;
- ``finding``: ``created`` (raised), ``changed`` (corrected), ``action_submitted`` and
  ``action_sent_back`` (the 8D flow's status changes), ``closed`` (an observation, or a
  verified 8D) — each one is the webhook ``finding.changed``;
- ``corrective_action``: ``created``, ``step_completed`` (``data["step"]``), ``submitted``,
  ``verified``, ``sent_back`` (``data["note"]``), ``reminded``;
- ``certificate`` (once per partnership of its organisation): ``created``, ``changed``,
  ``expiry_warned`` (``data["days"]``, ``data["thresholds"]``), ``expired``;
- ``kpi``: ``created``, ``changed``.
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
        EventKind("audit", "audits.Audit", "audits", "audit-detail"),
        EventKind(
            "finding",
            "audits.Finding",
            "findings",
            "finding-detail",
            partnership="audit.partnership_id",
        ),
        EventKind(
            "corrective_action",
            "audits.CorrectiveAction",
            "corrective-actions",
            "corrective-action-detail",
            partnership="finding.audit.partnership_id",
        ),
        # An organisation's certificate is an event in each of its partnerships: the
        # service names the partnership (``emit(…, partnership=…)``).
        EventKind(
            "certificate",
            "audits.Certificate",
            "certificates",
            "certificate-detail",
            partnership="",
        ),
        EventKind("kpi", "audits.KpiRecord", "kpis", "kpi-detail"),
    )
    # Every action of a finding (raised, corrected, its 8D submitted or sent back, closed) is
    # ``finding.changed``, as every save of one was.
    register_webhook_event(
        WebhookEvent("finding.changed", _("Audit finding raised or changed"), "finding"),
    )
