"""The contract summary PDF: terms, flexibility table, RACI matrix, decision rules and
signatures, the document both companies sign and file (DESIGN.md §1)."""

from django.utils import timezone

from partnership.pdf import render_pdf

from . import services
from .models import Contract

TEMPLATE = "contracts/pdf/summary.html"
#: How many hex digits of the content hash the page footer shows.
SHORT_HASH = 12


def _grouped(items, key):
    """[(key, [items…]), …] in order of each key's first appearance, items in their own order."""
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return list(groups.items())


def contract_summary_context(contract: Contract) -> dict:
    """Everything the summary template shows, read in a fixed number of queries (four)."""
    contract = (
        Contract.objects.select_related(
            "partnership__oem",
            "partnership__ems",
            "drafted_by",
            "proposed_by",
            "oem_signed_by",
            "ems_signed_by",
            "previous",
        )
        .prefetch_related("flex_bands", "matrix", "rules")
        .get(pk=contract.pk)
    )
    partnership = contract.partnership
    signed = contract.is_signed_by_both and bool(contract.content_hash)
    current_hash = services.content_hash(contract)  # uses the prefetched rows: no query
    # A signed version shows the hash both sides signed; an unsigned one the hash of what it
    # says now, which changes with every edit.
    shown_hash = contract.content_hash if signed else current_hash
    rules = [
        {"rule": rule, "text": rule.describe(contract.currency)} for rule in contract.rules.all()
    ]
    return {
        "contract": contract,
        "partnership": partnership,
        "oem": partnership.oem,
        "ems": partnership.ems,
        "flex_bands": list(contract.flex_bands.all()),
        "matrix_areas": _grouped(contract.matrix.all(), key=lambda item: item.area),
        "matrix_count": len(contract.matrix.all()),
        "rule_groups": _grouped(rules, key=lambda row: row["rule"].get_category_display()),
        "rule_count": len(rules),
        "signed": signed,
        "content_hash": shown_hash,
        "short_hash": shown_hash[:SHORT_HASH],
        # A signed version is immutable; if its rows no longer hash to what was signed, say so.
        "hash_mismatch": signed and contract.content_hash != current_hash,
        "signatures": [
            {
                "side": "OEM",
                "organization": partnership.oem,
                "user": contract.oem_signed_by,
                "at": contract.oem_signed_at,
            },
            {
                "side": "EMS",
                "organization": partnership.ems,
                "user": contract.ems_signed_by,
                "at": contract.ems_signed_at,
            },
        ],
        "generated_at": timezone.now(),
    }


def render_contract_pdf(contract: Contract) -> bytes:
    """The contract summary as PDF bytes."""
    return render_pdf(TEMPLATE, contract_summary_context(contract))
