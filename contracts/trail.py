"""The objects of contracts with an audit trail (``partnership.history``), registered from the
app's ``ready()``: who changed them, when and how, for both partners."""

from partnership.history import Kind

KINDS = [
    Kind(
        "contract",
        "contracts.Contract",
        "partnership",
        lambda r: f"{r.title} v{r.version}",
        children=(("matrix-item", "contract"), ("rule", "contract"), ("flex-band", "contract")),
    ),
    Kind("flex-band", "contracts.FlexBand", "contract__partnership"),
    Kind(
        "matrix-item",
        "contracts.ResponsibilityItem",
        "contract__partnership",
        lambda r: f"{r.area} / {r.activity}",
    ),
    Kind(
        "rule",
        "contracts.DecisionRule",
        "contract__partnership",
        lambda r: r.get_category_display(),
    ),
    Kind("decision", "contracts.DecisionRequest", "partnership", lambda r: r.title),
]
