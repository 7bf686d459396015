"""The starting point of a new contract: a RACI matrix and consult-vs-decide rules as they
commonly appear in manufacturing services agreements (DESIGN.md §6). Every value is data the
partners edit per contract."""

from django.utils.translation import gettext_lazy as _

# (area, activity, OEM letters, EMS letters)
MATRIX = [
    (_("Quotation"), _("Request for quotation and target prices"), "RA", "C"),
    (_("Quotation"), _("Quotation incl. material, labour and NRE"), "I", "RA"),
    (_("Component sourcing"), _("Purchasing components per BOM"), "I", "RA"),
    (_("Component sourcing"), _("Customer-consigned and customer-specific parts"), "RA", "C"),
    (_("Component sourcing"), _("Obsolescence monitoring and last-time buys"), "A", "RC"),
    (_("Approved vendor list"), _("Maintaining the approved vendor list (AVL)"), "RA", "C"),
    (_("Approved vendor list"), _("Proposing alternate sources"), "C", "RA"),
    (_("NPI documentation"), _("BOM with MPNs, reference designators and alternates"), "RA", "C"),
    (_("NPI documentation"), _("Gerber, drill and pick-and-place data"), "RA", "I"),
    (_("NPI documentation"), _("Assembly drawing and IPC-A-610 class"), "RA", "C"),
    (_("NPI documentation"), _("DFM/DFT review"), "C", "RA"),
    (_("PCB assembly"), _("SMT and THT assembly"), "I", "RA"),
    (_("PCB assembly"), _("Process documentation and work instructions"), "I", "RA"),
    (_("PCB assembly"), _("First article inspection"), "C", "RA"),
    (_("Inspection and test"), _("Test specification (AOI, X-ray, ICT, FCT scope)"), "RA", "C"),
    (_("Inspection and test"), _("Test fixtures and programs"), "C", "RA"),
    (_("Inspection and test"), _("Executing tests and keeping test records"), "I", "RA"),
    (_("Quality"), _("Quality requirements and acceptance criteria"), "RA", "C"),
    (_("Quality"), _("Non-conformance handling and 8D reports"), "C", "RA"),
    (_("Quality"), _("Supplier audits of the EMS"), "RA", "C"),
    (_("Logistics"), _("Demand forecast and purchase orders"), "RA", "I"),
    (_("Logistics"), _("Packaging, labelling and shipping"), "C", "RA"),
    (_("Logistics"), _("Excess and obsolete inventory"), "A", "R"),
    (_("Change management"), _("Engineering change orders"), "RA", "C"),
    (_("Change management"), _("Cost and schedule impact of a change"), "C", "RA"),
    (_("Change management"), _("Process changes at the EMS"), "A", "R"),
]

# Each rule: category, outcome, response hours, conditions, silence is consent, clause.
RULES = [
    {
        "category": "component_substitution",
        "outcome": "consult_oem",
        "response_hours": 72,
        "clause_ref": "7.1",
        "clause_text": "Substitutions with pre-approved alternates on the BOM may be made by the EMS after informing the OEM.",
    },
    {
        "category": "component_substitution",
        "outcome": "oem_approval",
        "response_hours": 48,
        "if_outside_avl": True,
        "clause_ref": "7.2",
        "clause_text": "Any substitution outside the approved vendor list requires the OEM's written approval.",
    },
    {
        "category": "component_substitution",
        "outcome": "oem_approval",
        "response_hours": 24,
        "if_safety_critical": True,
        "clause_ref": "7.3",
        "clause_text": "Substitutions of safety-critical parts require written approval.",
    },
    {
        "category": "alternate_source",
        "outcome": "ems_decides",
        "response_hours": 72,
        "clause_ref": "7.4",
        "clause_text": "The EMS may buy from any source listed on the AVL.",
    },
    {
        "category": "alternate_source",
        "outcome": "oem_approval",
        "response_hours": 48,
        "if_outside_avl": True,
        "clause_ref": "7.5",
        "clause_text": "Sources outside the AVL need the OEM's written approval before use.",
    },
    {
        "category": "engineering_change",
        "outcome": "oem_approval",
        "response_hours": 120,
        "clause_ref": "8.1",
        "clause_text": "Engineering changes take effect only through a written change order agreed by both parties.",
    },
    {
        "category": "process_change",
        "outcome": "consult_oem",
        "response_hours": 72,
        "silence_is_consent": True,
        "clause_ref": "8.3",
        "clause_text": "The EMS notifies process changes; absent objection within the response time, the change is accepted.",
    },
    {
        "category": "process_change",
        "outcome": "oem_approval",
        "response_hours": 72,
        "if_fff_impact": True,
        "clause_ref": "8.4",
        "clause_text": "Process changes affecting form, fit or function require approval.",
    },
    {
        "category": "process_change",
        "outcome": "oem_approval",
        "response_hours": 72,
        "if_ipc_class3": True,
        "clause_ref": "8.5",
        "clause_text": "Any process change on IPC class 3 products requires approval.",
    },
    {
        "category": "test_scope_change",
        "outcome": "oem_approval",
        "response_hours": 72,
        "clause_ref": "9.2",
        "clause_text": "The inspection and test scope changes only with the OEM's approval.",
    },
    {
        "category": "deviation",
        "outcome": "oem_approval",
        "response_hours": 24,
        "clause_ref": "9.4",
        "clause_text": "Any deviation from drawings or specifications needs a written deviation/waiver.",
    },
    {
        "category": "price_change",
        "outcome": "consult_oem",
        "response_hours": 120,
        "clause_ref": "5.2",
        "clause_text": "Price changes below 3% are notified with their justification.",
    },
    {
        "category": "price_change",
        "outcome": "oem_approval",
        "response_hours": 120,
        "min_price_change_pct": "3",
        "clause_ref": "5.3",
        "clause_text": "Price changes of 3% or more require the OEM's approval.",
    },
    {
        "category": "schedule_change",
        "outcome": "ems_decides",
        "response_hours": 24,
        "clause_ref": "4.5",
        "clause_text": "Delays of less than 3 days within the confirmed week are managed by the EMS.",
    },
    {
        "category": "schedule_change",
        "outcome": "consult_oem",
        "response_hours": 24,
        "min_delay_days": 3,
        "clause_ref": "4.6",
        "clause_text": "Delays of 3 days or more are discussed with the OEM.",
    },
    {
        "category": "schedule_change",
        "outcome": "oem_approval",
        "response_hours": 24,
        "min_delay_days": 10,
        "clause_ref": "4.7",
        "clause_text": "Delays of 10 days or more need the OEM's agreement to the recovery plan.",
    },
    {
        "category": "excess_obsolete",
        "outcome": "consult_oem",
        "response_hours": 240,
        "clause_ref": "6.2",
        "clause_text": "E&O inventory is reported quarterly.",
    },
    {
        "category": "excess_obsolete",
        "outcome": "oem_approval",
        "response_hours": 240,
        "min_cost_impact": "5000",
        "clause_ref": "6.3",
        "clause_text": "E&O liabilities of 5,000 or more are invoiced only after OEM approval.",
    },
    {
        "category": "subcontracting",
        "outcome": "oem_approval",
        "response_hours": 120,
        "clause_ref": "10.1",
        "clause_text": "The EMS may not subcontract assembly or test without written consent.",
    },
]

# (from week, to week or None, max increase %, max decrease %)
FLEX_BANDS = [(0, 4, "0", "0"), (5, 8, "10", "10"), (9, 13, "25", "25"), (14, None, "50", "50")]
# Reschedule limits per band, by its first week: (max. pull-in weeks, max. push-out weeks).
FLEX_RESCHEDULE = {0: (0, 0), 5: (1, 2), 9: (2, 4), 14: (None, None)}
