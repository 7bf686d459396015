"""The objects of comms with an audit trail (``partnership.history``), registered from the
app's ``ready()``: who changed them, when and how, for both partners."""

from partnership.history import Kind

KINDS = [
    Kind(
        "meeting",
        "comms.Meeting",
        "partnership",
        lambda r: r.title,
        (("minutes", "meeting"), ("agenda-item", "meeting"), ("action-item", "meeting")),
    ),
    Kind("agenda-item", "comms.AgendaItem", "meeting__partnership", lambda r: r.title),
    Kind(
        "minutes",
        "comms.Minutes",
        "meeting__partnership",
        lambda r: f"{r.meeting.title}: minutes",
        select=("meeting",),
    ),
    Kind(
        "problem",
        "comms.Problem",
        "partnership",
        lambda r: f"P-{r.number:04d} {r.title}",
        (("action-item", "problem"),),
    ),
    Kind("action-item", "comms.ActionItem", "partnership", lambda r: r.title),
    Kind("goal", "comms.Goal", "partnership", lambda r: r.title),
]
