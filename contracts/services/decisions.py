"""Decision requests: the EMS raises one, the active contract's rules route it, the OEM answers
(or the EMS withdraws it), and both sides comment. Every write is a ``decision_request`` event
(``partnership.events``): ``raised``, ``approved``/``rejected``/``acknowledged``, ``commented``,
``withdrawn`` — webhooks, the audit trail and ``contracts.subscribers`` (notifications) react."""

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Partnership
from partnership.permissions import EDITORS, require_role

from ..models import (
    FLAG_CONDITIONS,
    NUMERIC_CONDITIONS,
    Contract,
    DecisionAttachment,
    DecisionEvent,
    DecisionMode,
    DecisionRequest,
)
from .access import require_can_answer, require_can_raise
from .rules import route_facts

KIND = "decision_request"

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ALLOWED_ATTACHMENT_SUFFIXES = {
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".xlsx",
    ".csv",
    ".txt",
    ".zip",
    ".docx",
}

FACT_FIELDS = [fact for _f, fact, _l in NUMERIC_CONDITIONS + FLAG_CONDITIONS]


def active_contract(partnership: Partnership) -> Contract | None:
    return partnership.contracts.filter(status=Contract.Status.ACTIVE).first()


@transaction.atomic
def raise_decision_request(
    *,
    by,
    partnership: Partnership,
    title: str,
    category: str,
    description: str = "",
    external_id: str | None = None,
    attachments=(),
    **facts,
) -> DecisionRequest:
    """The EMS asks; the active contract's rules decide who decides, and by when."""
    _side, membership = require_can_raise(by, partnership)
    contract = active_contract(partnership)
    if contract is None:
        raise ValidationError(
            _("This partnership has no active contract, so there are no rules to route by.")
        )
    for attachment in attachments:
        validate_attachment(attachment)
    Partnership.objects.select_for_update().get(pk=partnership.pk)
    number = (partnership.decision_requests.aggregate(n=Max("number"))["n"] or 0) + 1
    clean_facts = {k: facts.get(k) for k in FACT_FIELDS}
    for flag in ("safety_critical", "outside_avl", "fff_impact", "ipc_class3", "customer_visible"):
        clean_facts[flag] = bool(clean_facts[flag])
    result = route_facts(contract, category, clean_facts)
    now = timezone.now()
    request = DecisionRequest(
        partnership=partnership,
        contract=contract,
        number=number,
        external_id=external_id or None,
        title=title,
        description=description,
        category=category,
        rule=result.rule,
        mode=result.mode,
        routing_explanation=result.explanation,
        response_hours=result.response_hours,
        silence_is_consent=result.silence_is_consent,
        raised_by=by,
        raised_by_org=membership.organization,
        status=DecisionRequest.Status.DECIDED_BY_EMS
        if result.mode == DecisionMode.EMS_DECIDES
        else DecisionRequest.Status.AWAITING_OEM,
        due_at=None
        if result.mode == DecisionMode.EMS_DECIDES
        else now + timedelta(hours=result.response_hours),
        **clean_facts,
    )
    request.full_clean(exclude=["contract", "partnership", "raised_by", "raised_by_org", "rule"])
    try:
        with transaction.atomic():
            request.save()
    except IntegrityError:
        raise ValidationError(
            {"external_id": _("A decision request with this external id already exists.")}
        ) from None
    DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.RAISED, actor=by, text=description
    )
    DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.ROUTED, text=result.explanation
    )
    for upload in attachments:
        DecisionAttachment.objects.create(
            request=request, file=upload, name=upload.name[:200], size=upload.size, uploaded_by=by
        )
    events.emit(KIND, "raised", request, by=by)
    return request


def validate_attachment(upload) -> None:
    name = upload.name.lower()
    if upload.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError(
            {"attachments": _("%(name)s is larger than 10 MB.") % {"name": upload.name}}
        )
    if not any(name.endswith(s) for s in ALLOWED_ATTACHMENT_SUFFIXES):
        raise ValidationError(
            {
                "attachments": _("%(name)s: allowed file types are %(types)s.")
                % {"name": upload.name, "types": ", ".join(sorted(ALLOWED_ATTACHMENT_SUFFIXES))}
            }
        )


ANSWERS = {
    # answer: (allowed modes, new status, timeline entry, reason required, event action)
    "approve": (
        {DecisionMode.OEM_APPROVAL},
        DecisionRequest.Status.APPROVED,
        DecisionEvent.Kind.APPROVED,
        False,
        "approved",
    ),
    "reject": (
        {DecisionMode.OEM_APPROVAL, DecisionMode.CONSULT_OEM},
        DecisionRequest.Status.REJECTED,
        DecisionEvent.Kind.REJECTED,
        True,
        "rejected",
    ),
    "acknowledge": (
        {DecisionMode.CONSULT_OEM},
        DecisionRequest.Status.ACKNOWLEDGED,
        DecisionEvent.Kind.ACKNOWLEDGED,
        False,
        "acknowledged",
    ),
}

ANSWER_FIELDS = ["status", "answered_by", "answered_at", "answer"]


@transaction.atomic
def answer_decision_request(
    *, by, request: DecisionRequest, action: str, text: str = ""
) -> DecisionRequest:
    """The OEM approves, rejects or acknowledges. Concurrent answers: exactly one wins."""
    request = DecisionRequest.objects.select_for_update().get(pk=request.pk)
    require_can_answer(by, request.partnership)
    if action not in ANSWERS:
        raise ValidationError({"action": _("Unknown answer.")})
    modes, status, kind, reason_required, event_action = ANSWERS[action]
    if not request.is_open:
        raise ValidationError(
            _("This request was already answered (%(status)s).")
            % {"status": request.get_status_display()}
        )
    if request.mode not in modes:
        raise ValidationError(
            {
                "action": _("A request routed to “%(mode)s” cannot be answered with “%(action)s”.")
                % {"mode": request.get_mode_display(), "action": action}
            }
        )
    if reason_required and not text.strip():
        raise ValidationError({"text": _("Give the reason for the rejection.")})
    request.status = status
    request.answered_by, request.answered_at, request.answer = by, timezone.now(), text.strip()
    request.save()
    DecisionEvent.objects.create(request=request, kind=kind, actor=by, text=text.strip())
    events.emit(KIND, event_action, request, by=by, changed=ANSWER_FIELDS, text=text)
    return request


@transaction.atomic
def comment_on_decision_request(*, by, request: DecisionRequest, text: str) -> DecisionEvent:
    side, _m = require_role(by, request.partnership, EDITORS, message=_("Viewers cannot comment."))
    if not text.strip():
        raise ValidationError({"text": _("Write a comment.")})
    comment = DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.COMMENT, actor=by, text=text.strip()
    )
    # A touch, not a change of the request (no history row): sync cursors see it moved.
    request.updated_at = timezone.now()
    DecisionRequest.objects.filter(pk=request.pk).update(updated_at=request.updated_at)
    events.emit(KIND, "commented", request, by=by, side=str(side), text=text, comment=comment)
    return comment


@transaction.atomic
def withdraw_decision_request(*, by, request: DecisionRequest, text: str = "") -> DecisionRequest:
    request = DecisionRequest.objects.select_for_update().get(pk=request.pk)
    require_can_raise(by, request.partnership, _("Only the EMS can withdraw its request."))
    if not request.is_open:
        raise ValidationError(_("Only an open request can be withdrawn."))
    request.status = DecisionRequest.Status.WITHDRAWN
    request.save()
    DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.WITHDRAWN, actor=by, text=text
    )
    events.emit(KIND, "withdrawn", request, by=by, changed=["status"], text=text)
    return request


def restate_decision_request(*, by, request: DecisionRequest, **facts) -> None:
    """An ERP sending a raised request again: the same facts change nothing (no write, no
    event). Different ones are refused: the routing recorded for the request was decided on
    its facts, so changing them means withdrawing it and raising a new one."""
    require_can_raise(by, request.partnership)
    changed = {
        name: _("A raised request keeps its facts; withdraw it and raise a new one.")
        for name, value in facts.items()
        if getattr(request, name) != value
    }
    if changed:
        raise ValidationError(changed)
