"""The objects of audits with an audit trail (``partnership.history``), registered from the
app's ``ready()``: who changed them, when and how, for both partners."""

from partnership.history import Kind

KINDS = [
    Kind(
        "audit",
        "audits.Audit",
        "partnership",
        lambda r: r.title,
        (("finding", "audit"), ("answer", "audit")),
    ),
    Kind(
        "answer",
        "audits.Answer",
        "audit__partnership",
        lambda r: f"{r.question.code} · {r.get_side_display()}",
        select=("question",),
    ),
    Kind(
        "finding",
        "audits.Finding",
        "audit__partnership",
        lambda r: f"F{r.number} {r.get_classification_display()}",
        (("corrective-action", "finding"),),
    ),
    Kind(
        "corrective-action",
        "audits.CorrectiveAction",
        "finding__audit__partnership",
        lambda r: f"8D F{r.finding.number}",
        select=("finding",),
    ),
    Kind(
        "certificate",
        "audits.Certificate",
        "@parties",
        lambda r: f"{r.get_standard_display()} {r.number}",
    ),
    Kind("supplier-profile", "audits.SupplierProfile", "@parties"),
    Kind("supplier-reference", "audits.SupplierReference", "partnership", lambda r: r.company),
    Kind("kpi", "audits.KpiRecord", "partnership", lambda r: f"{r.month:%Y-%m}"),
]
