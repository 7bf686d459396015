"""Every write that carries a contract rule: drafting, matrix and rule editing, sign-off,
versioning, decision routing and answers, escalation.

Each write emits its events (``partnership.events``) inside its transaction — kind
``contract`` (``created``, ``changed``, ``matrix_item_*``, ``rule_*``, ``flex_bands_replaced``,
``matrix_imported``, ``proposed``, ``changes_requested``, ``signed``, ``activated``,
``superseded``, ``expired``) or ``decision_request`` (``raised``, ``approved``, ``rejected``,
``acknowledged``, ``deemed_accepted``, ``escalated``, ``withdrawn``, ``commented``); webhooks,
the audit trail and ``contracts.subscribers`` (notifications) react to them. An edit that
changes nothing writes and emits nothing.

The modules, by topic: :mod:`.access` (who may), :mod:`.drafting` (versions, terms, flex
bands), :mod:`.matrix` (RACI rows, CSV), :mod:`.rules` (decision rules, routing),
:mod:`.signoff` (propose, send back, sign, activate, expire), :mod:`.versions` (signed content,
comparison), :mod:`.decisions` (decision requests), :mod:`.escalation` (the periodic task).
This package re-exports their public names: ``from contracts import services``.
"""

from partnership.permissions import side_membership

from .access import (
    can_answer,
    can_draft,
    can_edit,
    can_raise,
    can_sign,
    require_can_answer,
    require_can_draft,
    require_can_raise,
    require_can_sign,
    require_editable,
)
from .decisions import (
    ALLOWED_ATTACHMENT_SUFFIXES,
    ANSWERS,
    FACT_FIELDS,
    MAX_ATTACHMENT_BYTES,
    active_contract,
    answer_decision_request,
    comment_on_decision_request,
    raise_decision_request,
    restate_decision_request,
    validate_attachment,
    withdraw_decision_request,
)
from .drafting import create_draft, replace_flex_bands, update_terms, validate_flex_bands
from .escalation import escalate_overdue
from .matrix import (
    MATRIX_CSV_HEADER,
    ImportResult,
    delete_matrix_item,
    export_matrix_csv,
    import_matrix_csv,
    save_matrix_item,
)
from .rules import baseline_mode, delete_rule, route_facts, save_rule, validate_rules
from .signoff import contract_problems, expire_contracts, propose, request_changes, sign
from .versions import RULE_DIFF_FIELDS, compare, content_hash, content_snapshot

__all__ = [
    "ALLOWED_ATTACHMENT_SUFFIXES",
    "ANSWERS",
    "FACT_FIELDS",
    "MATRIX_CSV_HEADER",
    "MAX_ATTACHMENT_BYTES",
    "RULE_DIFF_FIELDS",
    "ImportResult",
    "active_contract",
    "answer_decision_request",
    "baseline_mode",
    "can_answer",
    "can_draft",
    "can_edit",
    "can_raise",
    "can_sign",
    "comment_on_decision_request",
    "compare",
    "content_hash",
    "content_snapshot",
    "contract_problems",
    "create_draft",
    "delete_matrix_item",
    "delete_rule",
    "escalate_overdue",
    "expire_contracts",
    "export_matrix_csv",
    "import_matrix_csv",
    "propose",
    "raise_decision_request",
    "replace_flex_bands",
    "request_changes",
    "require_can_answer",
    "require_can_draft",
    "require_can_raise",
    "require_can_sign",
    "require_editable",
    "restate_decision_request",
    "route_facts",
    "save_matrix_item",
    "save_rule",
    "side_membership",
    "sign",
    "update_terms",
    "validate_attachment",
    "validate_flex_bands",
    "validate_rules",
    "withdraw_decision_request",
]
