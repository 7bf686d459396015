"""The minutes PDF, rendered through the portal's one PDF renderer."""

from django.utils import timezone

from partnership.pdf import render_pdf


def render_minutes_pdf(meeting) -> bytes:
    minutes = getattr(meeting, "minutes", None)
    return render_pdf(
        "comms/pdf/minutes.html",
        {
            "meeting": meeting,
            "partnership": meeting.partnership,
            "minutes": minutes,
            "agenda": list(meeting.agenda.all()),
            "attendees": list(meeting.attendees.all()),
            "actions": list(meeting.action_items.select_related("owner")),
            "generated_at": timezone.now(),
        },
    )
