"""Who hears of what happens in audits: notifications as handlers of the event path
(``partnership.events``), imported from ``AuditsConfig.ready``. The services only announce
their writes; the recipients, subjects, bodies and links are chosen here, from the event's
object, author and data."""

from collections import defaultdict

from django.utils.translation import gettext as _

from partnership import registry
from partnership.models import Partnership, Role
from partnership.notifications import members, notify

#: The EMS's people told of audits and findings.
EMS_AUDIT_AUDIENCE = [Role.QUALITY, Role.ACCOUNT_MANAGER, Role.ADMIN]


@registry.subscribe(kinds="audit", actions="created")
def audit_planned(batch) -> None:
    """The EMS may self-assess against the same checklist before the audit."""
    for event in batch:
        audit = event.obj
        notify(
            members(audit.partnership, "ems", EMS_AUDIT_AUDIENCE),
            partnership=audit.partnership,
            subject=_("Audit planned: %(t)s on %(d)s")
            % {"t": audit.title, "d": audit.planned_date},
            body=_("You can self-assess against the same checklist before the audit."),
            url=audit.get_absolute_url(),
        )


@registry.subscribe(kinds="audit", actions="report_issued")
def report_issued(batch) -> None:
    for event in batch:
        audit = event.obj
        notify(
            members(audit.partnership, "ems", EMS_AUDIT_AUDIENCE),
            partnership=audit.partnership,
            subject=_("Audit report issued: %(t)s") % {"t": audit.title},
            body=_("Grade %(g)s. Findings need your corrective actions.")
            % {"g": audit.grade or "—"},
            url=audit.get_absolute_url(),
        )


@registry.subscribe(kinds="finding", actions="created")
def finding_raised(batch) -> None:
    """Major and minor findings need the EMS's 8D by their response date; observations do not."""
    for event in batch:
        finding = event.obj
        if not finding.needs_action:
            continue
        audit = finding.audit
        notify(
            members(audit.partnership, "ems", EMS_AUDIT_AUDIENCE),
            partnership=audit.partnership,
            subject=_("%(cls)s raised in %(audit)s: response due %(due)s")
            % {
                "cls": finding.get_classification_display(),
                "audit": audit.title,
                "due": finding.response_due,
            },
            body=finding.description,
            url=finding.get_absolute_url(),
        )


@registry.subscribe(kinds="corrective_action", actions="submitted")
def action_submitted(batch) -> None:
    for event in batch:
        action = event.obj
        partnership = action.finding.audit.partnership
        notify(
            members(partnership, "oem", [Role.QUALITY, Role.BUYER]),
            partnership=partnership,
            subject=_("8D submitted for %(f)s — please verify") % {"f": action.finding},
            url=action.finding.get_absolute_url(),
        )


@registry.subscribe(kinds="corrective_action", actions=("verified", "sent_back"))
def action_verified(batch) -> None:
    """The action's owner hears the OEM's verdict, with its note."""
    for event in batch:
        action = event.obj
        finding = action.finding
        accepted = event.action == "verified"
        notify(
            [action.owner],
            partnership=finding.audit.partnership,
            subject=(_("%(f)s closed") if accepted else _("%(f)s: 8D sent back")) % {"f": finding},
            body=event.data.get("note", ""),
            url=finding.get_absolute_url(),
        )


@registry.subscribe(kinds="corrective_action", actions="reminded")
def action_overdue(batch) -> None:
    """The owner, and the EMS's account managers, of an action past its due date."""
    for event in batch:
        action = event.obj
        partnership = action.finding.audit.partnership
        notify(
            [action.owner, *members(partnership, "ems", [Role.ACCOUNT_MANAGER])],
            partnership=partnership,
            subject=_("Overdue 8D: %(f)s was due %(d)s")
            % {"f": action.finding, "d": action.due_date},
            url=action.finding.get_absolute_url(),
        )


# --- Certificates ---------------------------------------------------------------------------


def certificate_audience(certificate, partnerships):
    """[(partnership, users)…]: the organisation's own quality people and admins, and each
    partner's quality people in their partnership — everyone active, and everyone once."""
    org = certificate.organization
    people = [
        m.user
        for m in org.memberships.filter(
            role__in=[Role.QUALITY, Role.ADMIN], user__is_active=True
        ).select_related("user")
    ]
    pairs, told = [], set()
    for p in partnerships:
        other = "oem" if p.ems_id == org.pk else "ems"
        users = [u for u in people + members(p, other, [Role.QUALITY]) if u.pk not in told]
        told.update(u.pk for u in users)
        if users:
            pairs.append((p, users))
    return pairs


def _by_certificate(batch):
    """``[(event, [partnership…])…]``: a certificate's events of one action (one per
    partnership of its organisation) together, so that everyone is told once."""
    groups = defaultdict(list)
    for event in batch:
        groups[(event.obj.pk, event.action)].append(event)
    partnerships = Partnership.objects.in_bulk({e.partnership_id for e in batch})
    return [
        (group[0], sorted((partnerships[e.partnership_id] for e in group), key=lambda p: p.pk))
        for group in groups.values()
    ]


@registry.subscribe(kinds="certificate", actions="expiry_warned")
def certificate_expiring(batch) -> None:
    """Several thresholds crossed at once (a late entry) make one notice, with the days left."""
    for event, partnerships in _by_certificate(batch):
        cert = event.obj
        for p, people in certificate_audience(cert, partnerships):
            notify(
                people,
                partnership=p,
                subject=_("%(c)s of %(o)s expires in %(d)s days (%(date)s)")
                % {
                    "c": cert,
                    "o": cert.organization,
                    "d": event.data["days"],
                    "date": cert.valid_until,
                },
                url=f"/partnerships/{p.pk}/scorecard/",
            )


@registry.subscribe(kinds="certificate", actions="expired")
def certificate_expired(batch) -> None:
    for event, partnerships in _by_certificate(batch):
        cert = event.obj
        for p, people in certificate_audience(cert, partnerships):
            notify(
                people,
                partnership=p,
                subject=_("Certificate expired: %(c)s of %(o)s")
                % {"c": cert, "o": cert.organization},
                url=f"/partnerships/{p.pk}/scorecard/",
            )
