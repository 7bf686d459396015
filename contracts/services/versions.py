"""What a version says and how two versions differ: the signed content and its hash, and the
comparison shown between versions. Reads only."""

import hashlib
import json

from ..models import Contract, DecisionRule, FlexBand


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
