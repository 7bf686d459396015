"""Sign-off: a draft is proposed to the partner, sent back or signed by both sides, and then
becomes the active version (the one before it is superseded); versions past their term
expire. Each step is a ``contract`` event; the people to tell are told by
``contracts.subscribers``."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.permissions import side_membership

from ..models import Contract
from .access import require_can_draft, require_can_sign, require_editable
from .drafting import KIND, validate_flex_bands
from .rules import validate_rules
from .versions import content_hash


def contract_problems(contract: Contract) -> list[str]:
    """Everything that keeps a version from being proposed, in words a user can act on."""
    problems = []
    items = list(contract.matrix.all())
    if not items:
        problems.append(_("The responsibility matrix is empty."))
    for item in items:
        try:
            item.full_clean(exclude=["contract"], validate_unique=False)
        except ValidationError as exc:
            problems += [f"{item.area} / {item.activity}: {m}" for m in exc.messages]
    try:
        validate_rules(list(contract.rules.all()), contract.default_decision_mode)
    except ValidationError as exc:
        problems += exc.messages
    try:
        validate_flex_bands(list(contract.flex_bands.all()))
    except ValidationError as exc:
        problems += exc.messages
    if not contract.effective_from:
        problems.append(_("Set the date the contract takes effect."))
    return problems


def _locked(contract: Contract) -> Contract:
    return Contract.objects.select_for_update().get(pk=contract.pk)


@transaction.atomic
def propose(*, by, contract: Contract) -> Contract:
    contract = _locked(contract)
    require_editable(by, contract)
    problems = contract_problems(contract)
    if problems:
        raise ValidationError(problems)
    before = events.snapshot(contract)
    contract.status = Contract.Status.PROPOSED
    contract.proposed_at, contract.proposed_by = timezone.now(), by
    contract.save()
    events.emit(KIND, "proposed", contract, by=by, changed=events.changed_fields(contract, before))
    return contract


@transaction.atomic
def request_changes(*, by, contract: Contract, reason: str) -> Contract:
    """The partner sends a proposed version back to its drafters: a draft again, unsigned."""
    contract = _locked(contract)
    if contract.status != Contract.Status.PROPOSED:
        raise ValidationError(_("Only a proposed version can be sent back."))
    require_can_draft(by, contract.partnership, _("Your role cannot review contracts."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say what should change.")})
    before = events.snapshot(contract)
    contract.status = Contract.Status.DRAFT
    contract.oem_signed_by = contract.oem_signed_at = contract.ems_signed_by = (
        contract.ems_signed_at
    ) = None
    contract.notes = (contract.notes + "\n\n" if contract.notes else "") + _(
        "Changes requested by %(who)s: %(reason)s"
    ) % {"who": by, "reason": reason.strip()}
    contract.save()
    events.emit(
        KIND,
        "changes_requested",
        contract,
        by=by,
        changed=events.changed_fields(contract, before),
        reason=reason,
    )
    return contract


@transaction.atomic
def sign(*, by, contract: Contract) -> Contract:
    """Record the signature of the signer's side; when both sides signed, the version becomes active."""
    contract = _locked(contract)
    if contract.status != Contract.Status.PROPOSED:
        raise ValidationError(_("Only a proposed version can be signed."))
    side, _m = side_membership(by, contract.partnership)
    require_can_sign(by, contract)
    if getattr(contract, f"{side}_signed_at"):
        raise ValidationError(_("Your side has already signed this version."))
    setattr(contract, f"{side}_signed_by", by)
    setattr(contract, f"{side}_signed_at", timezone.now())
    contract.save()
    events.emit(
        KIND,
        "signed",
        contract,
        by=by,
        changed=[f"{side}_signed_by", f"{side}_signed_at"],
        side=str(side),
    )
    if contract.is_signed_by_both:
        _activate(contract, by)
    return contract


def _activate(contract: Contract, by) -> None:
    now = timezone.now()
    superseded = []
    for previous in contract.partnership.contracts.filter(status=Contract.Status.ACTIVE):
        previous.status = Contract.Status.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])  # with its history row
        superseded.append(
            events.event(
                KIND, "superseded", previous, by=by, changed=["status"], superseded_by=contract
            )
        )
    events.publish(superseded)
    contract.status = Contract.Status.ACTIVE
    contract.activated_at = now
    contract.content_hash = content_hash(contract)
    contract.save()
    events.emit(
        KIND, "activated", contract, by=by, changed=["status", "activated_at", "content_hash"]
    )


@transaction.atomic
def expire_contracts(now=None) -> int:
    """Active contracts whose term ended become expired (daily task)."""
    today = timezone.localdate(now or timezone.now())
    ended = Contract.objects.filter(status=Contract.Status.ACTIVE, effective_until__lt=today)
    expired = []
    for contract in ended.select_for_update(skip_locked=True):
        contract.status = Contract.Status.EXPIRED
        contract.save(update_fields=["status", "updated_at"])  # with its history row
        expired.append(events.event(KIND, "expired", contract, changed=["status"]))
    events.publish(expired)
    return len(expired)
