"""Every write with an audit rule, by topic:

- :mod:`.access` — who may do what (``can_*``/``require_*`` on ``partnership.permissions``);
- :mod:`.audits` — planning, scoring, evidence, the report and closing;
- :mod:`.findings` — findings (created once per external id) and 8D corrective actions;
- :mod:`.certificates` — certificates and their expiry warnings;
- :mod:`.supplier` — supplier profile, references, KPIs and the scorecard.

Each write announces itself on the event path (``partnership.events``) inside its
transaction; webhooks, the audit trail and the notifications (``audits.subscribers``)
subscribe to it. ``from audits import services; services.raise_finding(…)`` keeps working:
the public API is re-exported here (patch a module global in the submodule that reads it).
"""

from .access import (
    can_act_for_ems,
    can_audit,
    is_auditor,
    is_ems_editor,
    require_editor,
    require_ems_member,
    require_oem_auditor,
    require_org_member,
)
from .audits import (
    EVIDENCE_SUFFIXES,
    MAX_EVIDENCE_BYTES,
    add_evidence,
    close_audit,
    compute_score,
    issue_report,
    plan_audit,
    record_answer,
    score_of,
    scoring_open,
    set_recommendation,
    start_audit,
    template_sections,
)
from .certificates import (
    EXPIRY_THRESHOLDS,
    check_certificates,
    partnerships_of,
    save_certificate,
)
from .findings import (
    can_correct,
    close_observation,
    complete_step,
    raise_finding,
    raise_finding_once,
    remind_overdue_actions,
    start_action,
    submit_action,
    update_finding,
    verify_action,
)
from .supplier import add_reference, save_kpi, save_profile, scorecard

__all__ = [
    "EVIDENCE_SUFFIXES",
    "EXPIRY_THRESHOLDS",
    "MAX_EVIDENCE_BYTES",
    "add_evidence",
    "add_reference",
    "can_act_for_ems",
    "can_audit",
    "can_correct",
    "check_certificates",
    "close_audit",
    "close_observation",
    "complete_step",
    "compute_score",
    "is_auditor",
    "is_ems_editor",
    "issue_report",
    "partnerships_of",
    "plan_audit",
    "raise_finding",
    "raise_finding_once",
    "record_answer",
    "remind_overdue_actions",
    "require_editor",
    "require_ems_member",
    "require_oem_auditor",
    "require_org_member",
    "save_certificate",
    "save_kpi",
    "save_profile",
    "score_of",
    "scorecard",
    "scoring_open",
    "set_recommendation",
    "start_action",
    "start_audit",
    "submit_action",
    "template_sections",
    "update_finding",
    "verify_action",
]
