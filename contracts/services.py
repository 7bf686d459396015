"""Every write that carries a contract rule: drafting, matrix and rule editing, sign-off,
versioning, decision routing and answers, escalation."""

import csv
import hashlib
import io
import itertools
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from partnership.models import Partnership, Role
from partnership.notifications import key_people, members, notify
from partnership.permissions import side_membership

from . import routing, template_data
from .models import (
    FLAG_CONDITIONS,
    NUMERIC_CONDITIONS,
    RESTRICTIVENESS,
    Contract,
    DecisionAttachment,
    DecisionEvent,
    DecisionMode,
    DecisionRequest,
    DecisionRule,
    FlexBand,
    ResponsibilityItem,
    normalise_letters,
)

# Who may do what, by side and role.
DRAFT_ROLES = {Role.ADMIN, Role.BUYER, Role.ACCOUNT_MANAGER, Role.QUALITY, Role.PLANNER}
SIGN_ROLES = {"oem": {Role.ADMIN, Role.BUYER}, "ems": {Role.ADMIN, Role.ACCOUNT_MANAGER}}
RAISE_ROLES = {Role.ADMIN, Role.ACCOUNT_MANAGER, Role.PLANNER, Role.QUALITY}
ANSWER_ROLES = {Role.ADMIN, Role.BUYER, Role.QUALITY}

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


def can_draft(user, partnership) -> bool:
    _side, m = side_membership(user, partnership)
    return bool(m and m.role in DRAFT_ROLES)


def can_sign(user, contract) -> bool:
    side, m = side_membership(user, contract.partnership)
    return bool(m and m.role in SIGN_ROLES[side])


def can_edit(user, contract) -> bool:
    """Drafts are edited by the side that drafted them."""
    _side, m = side_membership(user, contract.partnership)
    return bool(
        contract.is_editable
        and m
        and m.role in DRAFT_ROLES
        and m.organization_id == contract.drafted_by_id
    )


def can_raise(user, partnership) -> bool:
    side, m = side_membership(user, partnership)
    return bool(side == "ems" and m.role in RAISE_ROLES)


def can_answer(user, partnership) -> bool:
    side, m = side_membership(user, partnership)
    return bool(side == "oem" and m.role in ANSWER_ROLES)


def _require(condition, message):
    if not condition:
        raise PermissionDenied(message)


def _require_editable(user, contract):
    # Trust the locked row, not the caller's instance: it may have been loaded before the
    # version was proposed or signed, and saving it would silently undo the signatures.
    contract.status = (
        Contract.objects.select_for_update().values_list("status", flat=True).get(pk=contract.pk)
    )
    if not contract.is_editable:
        raise ValidationError(
            _("Only a draft can be changed. Start a new version to change an active contract.")
        )
    _require(can_edit(user, contract), _("Only the side that drafted this version can edit it."))


# --- Drafting ------------------------------------------------------------------------------


@transaction.atomic
def create_draft(*, by, partnership: Partnership) -> Contract:
    """A new version, copied from the active contract (or the latest one, or the template)."""
    _require(can_draft(by, partnership), _("Your role cannot draft contracts."))
    Partnership.objects.select_for_update().get(pk=partnership.pk)  # serialise version numbers
    if partnership.contracts.filter(
        status__in=[Contract.Status.DRAFT, Contract.Status.PROPOSED]
    ).exists():
        raise ValidationError(_("A draft or proposed version already exists; finish it first."))
    _side, membership = side_membership(by, partnership)
    base = (
        partnership.contracts.filter(status=Contract.Status.ACTIVE).first()
        or partnership.contracts.first()
    )
    version = (partnership.contracts.aggregate(v=Max("version"))["v"] or 0) + 1
    contract = Contract.objects.create(
        partnership=partnership,
        version=version,
        drafted_by=membership.organization,
        created_by=by,
        previous=base,
        **(
            {
                f: getattr(base, f)
                for f in (
                    "title",
                    "currency",
                    "frozen_zone_weeks",
                    "default_decision_mode",
                    "default_response_hours",
                    "capacity_warning_pct",
                    "capacity_critical_pct",
                    "effective_from",
                    "effective_until",
                    "notes",
                )
            }
            if base
            else {}
        ),
    )
    if base:
        _copy_content(base, contract)
    else:
        _apply_template(contract)
    return contract


def _bulk_create(model, objs) -> None:
    """Insert many rows and their "created" history rows (who and when) in a few statements."""
    bulk_create_with_history(list(objs), model)


def _copy_content(source: Contract, target: Contract):
    _bulk_create(
        ResponsibilityItem,
        (
            ResponsibilityItem(
                contract=target,
                area=i.area,
                activity=i.activity,
                oem=i.oem,
                ems=i.ems,
                position=i.position,
                lineage=i.lineage,
            )
            for i in source.matrix.all()
        ),
    )
    rules = []
    for r in source.rules.all():
        r.pk, r.id, r.contract = None, None, target
        rules.append(r)
    _bulk_create(DecisionRule, rules)
    _bulk_create(
        FlexBand,
        (
            FlexBand(
                contract=target,
                from_week=b.from_week,
                to_week=b.to_week,
                max_increase_pct=b.max_increase_pct,
                max_decrease_pct=b.max_decrease_pct,
                max_pull_in_weeks=b.max_pull_in_weeks,
                max_push_out_weeks=b.max_push_out_weeks,
                lineage=b.lineage,
            )
            for b in source.flex_bands.all()
        ),
    )


def _apply_template(contract: Contract):
    _bulk_create(
        ResponsibilityItem,
        (
            ResponsibilityItem(
                contract=contract, area=str(a), activity=str(act), oem=o, ems=e, position=n * 10
            )
            for n, (a, act, o, e) in enumerate(template_data.MATRIX)
        ),
    )
    _bulk_create(
        DecisionRule,
        (
            DecisionRule(contract=contract, position=n * 10, **rule)
            for n, rule in enumerate(template_data.RULES)
        ),
    )
    _bulk_create(
        FlexBand,
        (
            FlexBand(
                contract=contract,
                from_week=f,
                to_week=t,
                max_increase_pct=Decimal(up),
                max_decrease_pct=Decimal(down),
                max_pull_in_weeks=template_data.FLEX_RESCHEDULE.get(f, (None, None))[0],
                max_push_out_weeks=template_data.FLEX_RESCHEDULE.get(f, (None, None))[1],
            )
            for f, t, up, down in template_data.FLEX_BANDS
        ),
    )


@transaction.atomic
def update_terms(*, by, contract: Contract, **fields) -> Contract:
    _require_editable(by, contract)
    for name, value in fields.items():
        setattr(contract, name, value)
    contract.full_clean()
    contract.save()
    return contract


def validate_flex_bands(bands) -> None:
    """Bands must not overlap; each band's decrease may not exceed 100%."""
    ordered = sorted(bands, key=lambda b: b.from_week)
    for band in ordered:
        band.full_clean(exclude=["contract"])
    for a, b in itertools.pairwise(ordered):
        if a.to_week is None or a.to_week >= b.from_week:
            raise ValidationError(
                _("Flex bands overlap: weeks %(a)s and %(b)s.") % {"a": str(a), "b": str(b)}
            )


@transaction.atomic
def replace_flex_bands(*, by, contract: Contract, bands: list[FlexBand]) -> None:
    _require_editable(by, contract)
    validate_flex_bands(bands)
    contract.flex_bands.all().delete()
    for band in bands:
        band.contract = contract
        band.pk = None
    _bulk_create(FlexBand, bands)


# --- Responsibility matrix -----------------------------------------------------------------


def _letters(value: str) -> str:
    """Normalise RACI letters before field validation, so "R, A, C" fits the 4-character field;
    letters it cannot read are left for full_clean to report against the field."""
    try:
        return normalise_letters(value)
    except ValidationError:
        return value


@transaction.atomic
def save_matrix_item(
    *, by, contract: Contract, item: ResponsibilityItem | None = None, **fields
) -> ResponsibilityItem:
    _require_editable(by, contract)
    item = item or ResponsibilityItem(contract=contract)
    if item.contract_id != contract.pk:
        raise PermissionDenied
    for name, value in fields.items():
        setattr(item, name, value.strip() if isinstance(value, str) else value)
    item.oem, item.ems = _letters(item.oem), _letters(item.ems)
    if item.pk is None and not item.position:
        item.position = (contract.matrix.aggregate(p=Max("position"))["p"] or 0) + 10
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def delete_matrix_item(*, by, item: ResponsibilityItem) -> None:
    _require_editable(by, item.contract)
    item.delete()


MATRIX_CSV_HEADER = ["area", "activity", "oem", "ems"]


def export_matrix_csv(contract: Contract) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(MATRIX_CSV_HEADER)
    for item in contract.matrix.all():
        writer.writerow([item.area, item.activity, item.oem, item.ems])
    return out.getvalue()


@dataclass
class ImportResult:
    created: int
    errors: list[str]


@transaction.atomic
def import_matrix_csv(*, by, contract: Contract, data: bytes) -> ImportResult:
    """Replace the matrix with a CSV's rows — all of them or none. Errors name their row."""
    _require_editable(by, contract)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportResult(0, [_("The file is not UTF-8 encoded CSV.")])
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if header[:4] != MATRIX_CSV_HEADER:
        return ImportResult(
            0, [_("The first line must be: %(header)s") % {"header": ",".join(MATRIX_CSV_HEADER)}]
        )
    reader.fieldnames = header
    items, errors, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        item = ResponsibilityItem(
            contract=contract,
            area=(row.get("area") or "").strip(),
            activity=(row.get("activity") or "").strip(),
            oem=_letters((row.get("oem") or "").strip()),
            ems=_letters((row.get("ems") or "").strip()),
            position=(line - 1) * 10,
        )
        try:
            item.full_clean(exclude=["contract"], validate_unique=False)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                where = "" if field == "__all__" else f"{field}: "
                errors += [
                    _("Row %(line)s: %(where)s%(msg)s") % {"line": line, "where": where, "msg": m}
                    for m in messages
                ]
            continue
        key = (item.area.lower(), item.activity.lower())
        if key in seen:
            errors.append(_("Row %(line)s: this activity appears twice.") % {"line": line})
        seen.add(key)
        items.append(item)
    if not items and not errors:
        errors.append(_("The file has no rows."))
    if errors:
        return ImportResult(0, errors)
    old = {(i.area.lower(), i.activity.lower()): i.lineage for i in contract.matrix.all()}
    for item in items:  # keep lineage so version comparison sees "changed", not "removed + added"
        item.lineage = old.get((item.area.lower(), item.activity.lower()), item.lineage)
    contract.matrix.all().delete()
    _bulk_create(ResponsibilityItem, items)
    return ImportResult(len(items), [])


# --- Decision rules ------------------------------------------------------------------------


def baseline_mode(rules, category: str, default_mode: str) -> str:
    """What a case of this category gets with no aggravating fact: its unconditional rules, else the default."""
    unconditional = [
        r.outcome for r in rules if r.category == category and not routing.is_conditional(r)
    ]
    return max(unconditional, key=RESTRICTIVENESS.__getitem__) if unconditional else default_mode


def validate_rules(rules, default_mode: str) -> None:
    """Rules must be consistent: conditions only escalate, and no two rules with the same
    conditions disagree. Raises ValidationError naming the rule."""
    errors = []
    by_conditions = {}
    for rule in rules:
        label = rule.clause_ref or rule.get_category_display()
        key = (rule.category, rule.conditions())
        other = by_conditions.get(key)
        if other is not None and (
            other.outcome,
            other.response_hours,
            other.silence_is_consent,
        ) != (rule.outcome, rule.response_hours, rule.silence_is_consent):
            errors.append(
                _(
                    "Rules %(a)s and %(b)s have the same category and conditions but different outcomes."
                )
                % {"a": other.clause_ref or other.get_category_display(), "b": label}
            )
        by_conditions[key] = rule
        if routing.is_conditional(rule):
            base = baseline_mode(list(rules), rule.category, default_mode)
            if RESTRICTIVENESS[rule.outcome] < RESTRICTIVENESS[base]:
                errors.append(
                    _(
                        "Rule %(rule)s would make a worse case less restricted (%(outcome)s) than the "
                        "baseline for %(category)s (%(base)s). Conditions can only make a decision stricter."
                    )
                    % {
                        "rule": label,
                        "outcome": DecisionMode(rule.outcome).label,
                        "category": rule.get_category_display(),
                        "base": DecisionMode(base).label,
                    }
                )
        if rule.outcome == DecisionMode.EMS_DECIDES and rule.silence_is_consent:
            errors.append(
                _("Rule %(rule)s: silence as consent needs someone to ask.") % {"rule": label}
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def save_rule(*, by, contract: Contract, rule: DecisionRule) -> DecisionRule:
    _require_editable(by, contract)
    if rule.contract_id and rule.contract_id != contract.pk:
        raise PermissionDenied
    rule.contract = contract
    rule.full_clean()
    others = [r for r in contract.rules.all() if r.pk != rule.pk]
    validate_rules([*others, rule], contract.default_decision_mode)
    if not rule.position:
        rule.position = (contract.rules.aggregate(p=Max("position"))["p"] or 0) + 10
    rule.save()
    return rule


@transaction.atomic
def delete_rule(*, by, rule: DecisionRule) -> None:
    _require_editable(by, rule.contract)
    remaining = [r for r in rule.contract.rules.all() if r.pk != rule.pk]
    validate_rules(remaining, rule.contract.default_decision_mode)
    rule.delete()


def route_facts(contract: Contract, category: str, facts: dict) -> routing.Routing:
    return routing.route(
        list(contract.rules.all()),
        category=category,
        facts=facts,
        default_mode=contract.default_decision_mode,
        default_hours=contract.default_response_hours,
    )


# --- Validation, sign-off and versions -----------------------------------------------------


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
    _require_editable(by, contract)
    problems = contract_problems(contract)
    if problems:
        raise ValidationError(problems)
    contract.status = Contract.Status.PROPOSED
    contract.proposed_at, contract.proposed_by = timezone.now(), by
    contract.save()
    other = "ems" if contract.partnership.side_of(contract.drafted_by) == "oem" else "oem"
    notify(
        key_people(contract.partnership, other),
        partnership=contract.partnership,
        subject=_("%(contract)s was proposed for your review and signature")
        % {"contract": contract},
        body=_("%(who)s proposed version %(v)s. Review the changes and sign, or ask for changes.")
        % {"who": by, "v": contract.version},
        url=contract.get_absolute_url(),
    )
    return contract


@transaction.atomic
def request_changes(*, by, contract: Contract, reason: str) -> Contract:
    contract = _locked(contract)
    if contract.status != Contract.Status.PROPOSED:
        raise ValidationError(_("Only a proposed version can be sent back."))
    _side, m = side_membership(by, contract.partnership)
    _require(m and m.role in DRAFT_ROLES, _("Your role cannot review contracts."))
    if not reason.strip():
        raise ValidationError({"reason": _("Say what should change.")})
    contract.status = Contract.Status.DRAFT
    contract.oem_signed_by = contract.oem_signed_at = contract.ems_signed_by = (
        contract.ems_signed_at
    ) = None
    contract.notes = (contract.notes + "\n\n" if contract.notes else "") + _(
        "Changes requested by %(who)s: %(reason)s"
    ) % {"who": by, "reason": reason.strip()}
    contract.save()
    notify(
        key_people(contract.partnership, contract.partnership.side_of(contract.drafted_by)),
        partnership=contract.partnership,
        subject=_("Changes requested on %(contract)s") % {"contract": contract},
        body=reason,
        url=contract.get_absolute_url(),
    )
    return contract


@transaction.atomic
def sign(*, by, contract: Contract) -> Contract:
    """Record the signature of the signer's side; when both sides signed, the version becomes active."""
    contract = _locked(contract)
    if contract.status != Contract.Status.PROPOSED:
        raise ValidationError(_("Only a proposed version can be signed."))
    side, _m = side_membership(by, contract.partnership)
    _require(can_sign(by, contract), _("Your role cannot sign contracts for your company."))
    if getattr(contract, f"{side}_signed_at"):
        raise ValidationError(_("Your side has already signed this version."))
    setattr(contract, f"{side}_signed_by", by)
    setattr(contract, f"{side}_signed_at", timezone.now())
    contract.save()
    if contract.is_signed_by_both:
        _activate(contract)
    return contract


def _activate(contract: Contract) -> None:
    now = timezone.now()
    for previous in contract.partnership.contracts.filter(status=Contract.Status.ACTIVE):
        previous.status = Contract.Status.SUPERSEDED
        previous.save(update_fields=["status", "updated_at"])  # with its history row
    contract.status = Contract.Status.ACTIVE
    contract.activated_at = now
    contract.content_hash = content_hash(contract)
    contract.save()
    people = key_people(contract.partnership, "oem") + key_people(contract.partnership, "ems")
    notify(
        people,
        partnership=contract.partnership,
        subject=_("%(contract)s is now active") % {"contract": contract},
        body=_("Both sides signed. Decision requests are now routed by this version's rules."),
        url=contract.get_absolute_url(),
    )


@transaction.atomic
def expire_contracts(now=None) -> int:
    """Active contracts whose term ended become expired (daily task)."""
    today = timezone.localdate(now or timezone.now())
    ended = Contract.objects.filter(status=Contract.Status.ACTIVE, effective_until__lt=today)
    n = 0
    for contract in ended.select_for_update(skip_locked=True):
        contract.status = Contract.Status.EXPIRED
        contract.save(update_fields=["status", "updated_at"])  # with its history row
        n += 1
    return n


def _flex_content(band: FlexBand) -> list:
    row = [band.from_week, band.to_week, str(band.max_increase_pct), str(band.max_decrease_pct)]
    # Reschedule limits came later: appended only when set, so the hashes of contracts
    # signed before them stay valid.
    if band.max_pull_in_weeks is not None or band.max_push_out_weeks is not None:
        row += [band.max_pull_in_weeks, band.max_push_out_weeks]
    return row


def content_snapshot(contract: Contract) -> dict:
    """The signed content: terms, flex bands, matrix and rules, in a canonical order."""
    terms = {
        f: str(getattr(contract, f))
        for f in (
            "title",
            "version",
            "effective_from",
            "effective_until",
            "currency",
            "frozen_zone_weeks",
            "default_decision_mode",
            "default_response_hours",
            "capacity_warning_pct",
            "capacity_critical_pct",
        )
    }
    return {
        # Ids, not names: a company that renames itself must not invalidate its signed contracts.
        "partnership": [
            contract.partnership_id,
            contract.partnership.oem_id,
            contract.partnership.ems_id,
        ],
        "terms": terms,
        "flex": [_flex_content(b) for b in contract.flex_bands.all()],
        "matrix": [[i.area, i.activity, i.oem, i.ems] for i in contract.matrix.all()],
        "rules": [
            [
                r.category,
                *(str(v) for v in r.conditions()),
                r.outcome,
                r.response_hours,
                r.silence_is_consent,
                r.clause_ref,
                r.clause_text,
            ]
            for r in contract.rules.all()
        ],
    }


def content_hash(contract: Contract) -> str:
    return hashlib.sha256(
        json.dumps(content_snapshot(contract), sort_keys=True).encode()
    ).hexdigest()


RULE_DIFF_FIELDS = [
    "category",
    *DecisionRule.CONDITION_FIELDS,
    "outcome",
    "response_hours",
    "silence_is_consent",
    "clause_ref",
    "clause_text",
]


def _diff_rows(old_rows, new_rows, fields):
    old = {r.lineage: r for r in old_rows}
    new = {r.lineage: r for r in new_rows}
    added = [r for k, r in new.items() if k not in old]
    removed = [r for k, r in old.items() if k not in new]
    changed = []
    for k in old.keys() & new.keys():
        changes = [
            (f, getattr(old[k], f), getattr(new[k], f))
            for f in fields
            if getattr(old[k], f) != getattr(new[k], f)
        ]
        if changes:
            changed.append((old[k], new[k], changes))
    return {"added": added, "removed": removed, "changed": changed}


def compare(old: Contract, new: Contract) -> dict:
    """What changed from one version to another: terms, flex bands, matrix rows and rules."""
    term_fields = [
        "title",
        "effective_from",
        "effective_until",
        "currency",
        "frozen_zone_weeks",
        "default_decision_mode",
        "default_response_hours",
    ]
    return {
        "terms": [
            (Contract._meta.get_field(f).verbose_name, getattr(old, f), getattr(new, f))
            for f in term_fields
            if getattr(old, f) != getattr(new, f)
        ],
        "flex": _diff_rows(
            old.flex_bands.all(),
            new.flex_bands.all(),
            list(FlexBand.TERMS),
        ),
        "matrix": _diff_rows(
            old.matrix.all(), new.matrix.all(), ["area", "activity", "oem", "ems"]
        ),
        "rules": _diff_rows(old.rules.all(), new.rules.all(), RULE_DIFF_FIELDS),
    }


# --- Decision requests ---------------------------------------------------------------------

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
    _require(
        can_raise(by, partnership), _("Only EMS members (not viewers) raise decision requests.")
    )
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
    _side, membership = side_membership(by, partnership)
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
    if request.mode == DecisionMode.EMS_DECIDES:
        subject = _("%(ref)s decided by the EMS: %(title)s")
    elif request.mode == DecisionMode.CONSULT_OEM:
        subject = _("%(ref)s: the EMS consults you on %(title)s")
    else:
        subject = _("%(ref)s needs your approval: %(title)s")
    notify(
        key_people(partnership, "oem"),
        partnership=partnership,
        subject=subject % {"ref": request.reference, "title": title},
        body=result.explanation,
        url=request.get_absolute_url(),
    )
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
    # action: (allowed modes, new status, event kind, reason required)
    "approve": (
        {DecisionMode.OEM_APPROVAL},
        DecisionRequest.Status.APPROVED,
        DecisionEvent.Kind.APPROVED,
        False,
    ),
    "reject": (
        {DecisionMode.OEM_APPROVAL, DecisionMode.CONSULT_OEM},
        DecisionRequest.Status.REJECTED,
        DecisionEvent.Kind.REJECTED,
        True,
    ),
    "acknowledge": (
        {DecisionMode.CONSULT_OEM},
        DecisionRequest.Status.ACKNOWLEDGED,
        DecisionEvent.Kind.ACKNOWLEDGED,
        False,
    ),
}


@transaction.atomic
def answer_decision_request(
    *, by, request: DecisionRequest, action: str, text: str = ""
) -> DecisionRequest:
    """The OEM approves, rejects or acknowledges. Concurrent answers: exactly one wins."""
    request = DecisionRequest.objects.select_for_update().get(pk=request.pk)
    _require(
        can_answer(by, request.partnership),
        _("Only OEM buyers, quality engineers and admins answer requests."),
    )
    if action not in ANSWERS:
        raise ValidationError({"action": _("Unknown answer.")})
    modes, status, kind, reason_required = ANSWERS[action]
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
    notify(
        [*key_people(request.partnership, "ems"), request.raised_by],
        partnership=request.partnership,
        subject=_("%(ref)s %(status)s by %(who)s")
        % {"ref": request.reference, "status": request.get_status_display().lower(), "who": by},
        body=text,
        url=request.get_absolute_url(),
    )
    return request


@transaction.atomic
def comment_on_decision_request(*, by, request: DecisionRequest, text: str) -> DecisionEvent:
    side, m = side_membership(by, request.partnership)
    _require(m and m.role != Role.VIEWER, _("Viewers cannot comment."))
    if not text.strip():
        raise ValidationError({"text": _("Write a comment.")})
    event = DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.COMMENT, actor=by, text=text.strip()
    )
    DecisionRequest.objects.filter(pk=request.pk).update(updated_at=timezone.now())
    other = "ems" if side == "oem" else "oem"
    notify(
        key_people(request.partnership, other),
        partnership=request.partnership,
        subject=_("New comment on %(ref)s") % {"ref": request.reference},
        body=text,
        url=request.get_absolute_url(),
    )
    return event


@transaction.atomic
def withdraw_decision_request(*, by, request: DecisionRequest, text: str = "") -> DecisionRequest:
    request = DecisionRequest.objects.select_for_update().get(pk=request.pk)
    _require(can_raise(by, request.partnership), _("Only the EMS can withdraw its request."))
    if not request.is_open:
        raise ValidationError(_("Only an open request can be withdrawn."))
    request.status = DecisionRequest.Status.WITHDRAWN
    request.save()
    DecisionEvent.objects.create(
        request=request, kind=DecisionEvent.Kind.WITHDRAWN, actor=by, text=text
    )
    notify(
        key_people(request.partnership, "oem"),
        partnership=request.partnership,
        subject=_("%(ref)s was withdrawn") % {"ref": request.reference},
        body=text,
        url=request.get_absolute_url(),
    )
    return request


def escalate_overdue(now=None, batch_size=200) -> dict[str, int]:
    """Requests past their answer time: silence-is-consent ones are deemed accepted, the others
    become overdue and are escalated to the OEM buyer and the EMS account manager — exactly once
    per breach. Rows are claimed with SKIP LOCKED, so parallel workers never double-send."""
    now = now or timezone.now()
    counts = {"deemed_accepted": 0, "escalated": 0}
    while True:
        with transaction.atomic():
            batch = list(
                DecisionRequest.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(
                    status=DecisionRequest.Status.AWAITING_OEM,
                    due_at__lte=now,
                    escalated_at__isnull=True,
                )
                .select_related(
                    "partnership", "partnership__oem_contact", "partnership__ems_contact"
                )
                .order_by("due_at")[:batch_size]
            )
            if not batch:
                return counts
            for request in batch:
                _escalate_one(request, now)
                counts[
                    "deemed_accepted"
                    if request.status == DecisionRequest.Status.DEEMED_ACCEPTED
                    else "escalated"
                ] += 1


def _escalate_one(request: DecisionRequest, now) -> None:
    request.escalated_at = now
    p = request.partnership
    if request.silence_is_consent:
        request.status = DecisionRequest.Status.DEEMED_ACCEPTED
        request.answered_at = now
        request.save()
        text = _("No answer within %(h)s h: under the contract, silence counts as consent.") % {
            "h": request.response_hours
        }
        DecisionEvent.objects.create(
            request=request, kind=DecisionEvent.Kind.DEEMED_ACCEPTED, text=text, created_at=now
        )
        subject = _("%(ref)s deemed accepted: %(title)s")
    else:
        request.status = DecisionRequest.Status.OVERDUE
        request.save()
        text = _(
            "No answer within %(h)s h; escalated to the OEM buyer and the EMS account manager."
        ) % {"h": request.response_hours}
        DecisionEvent.objects.create(
            request=request, kind=DecisionEvent.Kind.OVERDUE, text=text, created_at=now
        )
        subject = _("Overdue: %(ref)s %(title)s is waiting for the OEM")
    people = (
        members(p, "oem", [Role.BUYER])
        + members(p, "ems", [Role.ACCOUNT_MANAGER])
        + key_people(p, "oem")
        + key_people(p, "ems")
        + [request.raised_by]
    )
    notify(
        people,
        partnership=p,
        subject=subject % {"ref": request.reference, "title": request.title},
        body=text,
        url=request.get_absolute_url(),
    )


def restate_decision_request(*, by, request: DecisionRequest, **facts) -> None:
    """An ERP sending a raised request again: the same facts change nothing. Different ones
    are refused: the routing recorded for the request was decided on its facts, so changing
    them means withdrawing it and raising a new one."""
    _require(
        can_raise(by, request.partnership),
        _("Only EMS members (not viewers) raise decision requests."),
    )
    changed = {
        name: _("A raised request keeps its facts; withdraw it and raise a new one.")
        for name, value in facts.items()
        if getattr(request, name) != value
    }
    if changed:
        raise ValidationError(changed)
