"""Findings and their 8D corrective actions: raising (once per external id), correcting,
the EMS's D1–D7, submitting, the OEM's D8 verification, closing observations and the daily
reminder of overdue actions. Each write announces itself on the event path (kinds
``finding`` and ``corrective_action``); every event of a finding is its webhook
``finding.changed``; ``audits.subscribers`` tells people."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Membership
from partnership.services import create_once

from ..models import EIGHT_D, Audit, CorrectiveAction, Finding
from .access import require_ems_member, require_oem_auditor

#: Where an audit must be for findings to be raised in it.
RAISING_STATUSES = (Audit.Status.IN_PROGRESS, Audit.Status.REPORT_ISSUED)


@transaction.atomic
def raise_finding(
    *, by, audit: Audit, classification, description, clause="", evidence="", external_id=None
) -> Finding:
    """Raise a finding (OEM auditors). With an ``external_id`` already used in the partnership,
    the finding raised with it is returned and nothing is recorded (see
    :func:`raise_finding_once`)."""
    finding, _created = raise_finding_once(
        by=by,
        audit=audit,
        classification=classification,
        description=description,
        clause=clause,
        evidence=evidence,
        external_id=external_id,
    )
    return finding


@transaction.atomic
def raise_finding_once(
    *, by, audit: Audit, classification, description, clause="", evidence="", external_id=None
) -> tuple[Finding, bool]:
    """``(finding, created)``: create once per external id. A retried create (an ERP that did
    not see the first answer) gets the finding it raised, wherever it is now, and records
    nothing; the role is checked first, so a retry reveals nothing to whom may not raise."""
    require_oem_auditor(by, audit.partnership)

    def create():
        return _raise(
            by=by,
            audit=audit,
            classification=classification,
            description=description,
            clause=clause,
            evidence=evidence,
            external_id=external_id or None,
        )

    if not external_id:
        return create(), True
    return create_once(
        partnership=audit.partnership,
        existing=Finding.objects.filter(
            audit__partnership_id=audit.partnership_id, external_id=external_id
        ),
        create=create,
    )


def _raise(*, by, audit, classification, description, clause, evidence, external_id) -> Finding:
    if audit.status not in RAISING_STATUSES:
        raise ValidationError(_("Findings are recorded during the audit or in its report."))
    Audit.objects.select_for_update().get(pk=audit.pk)  # numbers: one raise at a time
    number = (audit.findings.aggregate(n=Max("number"))["n"] or 0) + 1
    finding = Finding(
        audit=audit,
        partnership_id=audit.partnership_id,
        external_id=external_id,
        number=number,
        classification=classification,
        clause=clause,
        description=description,
        evidence=evidence,
        raised_by=by,
    )
    if finding.needs_action:
        finding.response_due = timezone.localdate() + timedelta(days=audit.response_days)
    finding.full_clean()
    finding.save()
    events.emit("finding", events.CREATED, finding, by=by)
    return finding


def can_correct(finding: Finding) -> bool:
    """An open finding without a corrective action can still be corrected."""
    return finding.status == Finding.Status.OPEN and not hasattr(finding, "action")


@transaction.atomic
def update_finding(*, by, finding: Finding, **fields) -> Finding:
    """Correct an open finding's class, clause, description or evidence (OEM auditors). Once
    the EMS has answered with an 8D, or the finding is closed, it stays as it was. Values
    equal to the stored ones change nothing (no save, no event)."""
    require_oem_auditor(by, finding.audit.partnership)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)
    if not can_correct(finding):
        raise ValidationError(_("Only open findings without a corrective action can change."))
    before = events.snapshot(finding)
    for name, value in fields.items():
        setattr(finding, name, value)
    if finding.needs_action and finding.response_due is None:
        finding.response_due = timezone.localdate() + timedelta(days=finding.audit.response_days)
    changed = events.changed_fields(finding, before)
    if not changed:
        return finding
    finding.full_clean()
    finding.save()
    events.emit("finding", events.CHANGED, finding, by=by, changed=changed)
    return finding


@transaction.atomic
def start_action(*, by, finding: Finding, owner, due_date) -> CorrectiveAction:
    require_ems_member(by, finding.audit.partnership)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)  # two starts at once: one wins
    if not finding.needs_action:
        raise ValidationError(_("Observations need no corrective action."))
    if hasattr(finding, "action"):
        raise ValidationError(_("This finding already has a corrective action."))
    if not Membership.objects.filter(
        user=owner, organization_id=finding.audit.partnership.ems_id
    ).exists():
        raise ValidationError({"owner": _("The owner must be a member of the EMS.")})
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": _("The due date is in the past.")})
    action = CorrectiveAction.objects.create(finding=finding, owner=owner, due_date=due_date)
    events.emit("corrective_action", events.CREATED, action, by=by)
    return action


@transaction.atomic
def complete_step(*, by, action: CorrectiveAction, step: int, text: str) -> CorrectiveAction:
    """D1–D7 are completed by the EMS in order: a step needs the one before it."""
    require_ems_member(by, action.finding.audit.partnership)
    action = CorrectiveAction.objects.select_for_update().get(pk=action.pk)
    if action.status != CorrectiveAction.Status.OPEN:
        raise ValidationError(_("This action is with the OEM for verification or closed."))
    if step not in range(1, 8):
        raise ValidationError(
            {"step": _("The EMS completes steps D1 to D7; D8 is the OEM's verification.")}
        )
    if step > 1 and not action.step(step - 1).get("done_at"):
        raise ValidationError(
            {"step": _("Complete %(prev)s first.") % {"prev": EIGHT_D[step - 2][1]}}
        )
    if not text.strip():
        raise ValidationError({"text": _("Describe what was done.")})
    action.steps[str(step)] = {
        "text": text.strip(),
        "done_at": timezone.now().isoformat(),
        "done_by": by.pk,
        "done_by_name": str(by),
    }
    action.save()
    events.emit("corrective_action", "step_completed", action, by=by, changed=["steps"], step=step)
    return action


@transaction.atomic
def submit_action(*, by, action: CorrectiveAction) -> CorrectiveAction:
    """The EMS hands its completed D1–D7 to the OEM: the action is submitted and its finding
    waits for verification (two events, one per object)."""
    require_ems_member(by, action.finding.audit.partnership)
    action = (
        CorrectiveAction.objects.select_for_update()
        .select_related("finding__audit")
        .get(pk=action.pk)
    )
    if action.next_step() is not None:
        raise ValidationError(_("Complete D1 to D7 before submitting."))
    if action.status != CorrectiveAction.Status.OPEN:
        raise ValidationError(_("This action was already submitted."))
    action.status = CorrectiveAction.Status.SUBMITTED
    action.save()
    finding = action.finding
    finding.status = Finding.Status.ACTION_SUBMITTED
    finding.save(update_fields=["status", "updated_at"])  # through save(): the audit trail
    events.publish(
        [
            events.event("corrective_action", "submitted", action, by=by, changed=["status"]),
            events.event("finding", "action_submitted", finding, by=by, changed=["status"]),
        ]
    )
    return action


@transaction.atomic
def verify_action(
    *, by, action: CorrectiveAction, accept: bool, note: str = ""
) -> CorrectiveAction:
    """D8: the OEM verifies the action and closes the finding (``verified`` and the finding
    ``closed``), or sends it back with a reason (``sent_back`` and the finding
    ``action_sent_back``, open again)."""
    require_oem_auditor(by, action.finding.audit.partnership)
    action = (
        CorrectiveAction.objects.select_for_update().select_related("finding").get(pk=action.pk)
    )
    if action.status != CorrectiveAction.Status.SUBMITTED:
        raise ValidationError(_("Only a submitted action can be verified."))
    if not accept and not note.strip():
        raise ValidationError({"note": _("Say what is missing.")})
    now = timezone.now()
    finding = action.finding
    action_before = events.snapshot(action, ["status", "verified_by", "verified_at"])
    finding_before = events.snapshot(finding, ["status", "closed_by", "closed_at"])
    if accept:
        action.status, action.verified_by, action.verified_at = (
            CorrectiveAction.Status.VERIFIED,
            by,
            now,
        )
        action.steps["8"] = {
            "text": note.strip() or _("Verified effective."),
            "done_at": now.isoformat(),
            "done_by": by.pk,
            "done_by_name": str(by),
        }
        finding.status, finding.closed_by, finding.closed_at = Finding.Status.CLOSED, by, now
    else:
        action.status = CorrectiveAction.Status.OPEN
        finding.status = Finding.Status.OPEN
    verification_note = action.verification_note
    action.verification_note = note.strip()
    action.save()
    finding.save()
    action_changed = events.changed_fields(action, action_before)
    if accept:
        action_changed.append("steps")
    if action.verification_note != verification_note:
        action_changed.append("verification_note")
    events.publish(
        [
            events.event(
                "corrective_action",
                "verified" if accept else "sent_back",
                action,
                by=by,
                changed=action_changed,
                note=note,
            ),
            events.event(
                "finding",
                "closed" if accept else "action_sent_back",
                finding,
                by=by,
                changed=events.changed_fields(finding, finding_before),
            ),
        ]
    )
    return action


@transaction.atomic
def close_observation(*, by, finding: Finding) -> Finding:
    require_oem_auditor(by, finding.audit.partnership)
    if finding.needs_action:
        raise ValidationError(
            _("Major and minor findings close through a verified corrective action.")
        )
    if finding.status == Finding.Status.CLOSED:
        return finding  # closed already: no change, no event
    before = events.snapshot(finding, ["status", "closed_by", "closed_at"])
    finding.status, finding.closed_by, finding.closed_at = Finding.Status.CLOSED, by, timezone.now()
    finding.save()
    events.emit("finding", "closed", finding, by=by, changed=events.changed_fields(finding, before))
    return finding


def remind_overdue_actions(now=None) -> int:
    """Daily: open actions past their due date remind their owner, at most once a day each
    (one ``reminded`` event per action, in one batch)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        due = list(
            CorrectiveAction.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=CorrectiveAction.Status.OPEN, due_date__lt=today)
            .filter(
                Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lt=now - timedelta(hours=23))
            )
            .select_related("finding__audit__partnership", "owner")
        )
        for action in due:
            action.last_reminded_at = now
            action.save(update_fields=["last_reminded_at"])
        events.publish(
            events.event("corrective_action", "reminded", action, changed=["last_reminded_at"])
            for action in due
        )
    return len(due)
