"""Minutes and action items: minutes are saved and published (the meeting's
``minutes_saved``/``minutes_published`` events; publishing mails them, with the PDF), action
items are created, changed, done, cancelled or reopened, and overdue ones remind their owner
(the ``action_item`` events; ``comms.subscribers`` tells the people)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from partnership import events
from partnership.permissions import ADMINS, has_role

from ..models import ActionItem, Meeting, Minutes
from .common import can_write, partnership_people, require_member

#: The action of an action item's event for each status it is set to.
STATUS_ACTIONS = {
    ActionItem.Status.DONE: "done",
    ActionItem.Status.CANCELLED: "cancelled",
    ActionItem.Status.OPEN: "reopened",
}


# --- Minutes ----------------------------------------------------------------------------------


@transaction.atomic
def save_minutes(*, by, meeting: Meeting, notes: str, decisions: str) -> Minutes:
    """Notes and decisions of the meeting (``minutes_saved``, with the fields that changed)."""
    require_member(by, meeting.partnership)
    minutes = Minutes.objects.select_for_update().filter(meeting=meeting).first()
    if minutes is None:
        minutes = Minutes(meeting=meeting)
        before = {"notes": "", "decisions": ""}
    else:
        before = events.snapshot(minutes, ["notes", "decisions"])
    minutes.notes, minutes.decisions = notes, decisions
    changed = events.changed_fields(minutes, before)
    if not changed:
        return minutes
    minutes.save()
    events.emit("meeting", "minutes_saved", meeting, by=by, changed=changed, minutes=minutes)
    return minutes


@transaction.atomic
def publish_minutes(*, by, meeting: Meeting) -> Minutes:
    """Minutes go to every attendee by e-mail, with the minutes PDF attached
    (``minutes_published``)."""
    require_member(by, meeting.partnership)
    minutes, _created = Minutes.objects.get_or_create(meeting=meeting)
    if not (minutes.notes.strip() or minutes.decisions.strip() or meeting.action_items.exists()):
        raise ValidationError(_("Write notes, decisions or action items before publishing."))
    minutes.published_at, minutes.published_by = timezone.now(), by
    minutes.save()
    events.emit(
        "meeting",
        "minutes_published",
        meeting,
        by=by,
        changed=["published_at", "published_by"],
        minutes=minutes,
    )
    return minutes


def send_minutes(meeting_id: int) -> int:
    from ..pdf import render_minutes_pdf

    meeting = Meeting.objects.select_related("partnership__oem", "partnership__ems", "minutes").get(
        pk=meeting_id
    )
    pdf = render_minutes_pdf(meeting)
    people = {u.pk: u for u in [meeting.organiser, *meeting.attendees.all()]}
    actions = list(meeting.action_items.select_related("owner"))
    for user in people.values():
        context = {
            "meeting": meeting,
            "minutes": meeting.minutes,
            "actions": actions,
            "user": user,
            "url": settings.SITE_URL.rstrip("/") + meeting.get_absolute_url(),
        }
        with translation.override(user.language or None):
            subject = _("Minutes: %(t)s") % {"t": meeting.title}
            text = render_to_string("comms/email/minutes.txt", context)
            html = render_to_string("comms/email/minutes.html", context)
        message = EmailMultiAlternatives(
            settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, text, None, [user.email]
        )
        message.attach_alternative(html, "text/html")
        message.attach(f"minutes-{meeting.pk}.pdf", pdf, "application/pdf")
        message.send()
    return len(people)


# --- Action items -----------------------------------------------------------------------------


def action_url(item) -> str:
    return (
        item.meeting.get_absolute_url()
        if item.meeting_id
        else f"/partnerships/{item.partnership_id}/actions/"
    )


def _check_action_links(partnership, **links):
    for name in ("meeting", "problem"):
        obj = links.get(name)
        if obj is not None and obj.partnership_id != partnership.pk:
            raise ValidationError({name: _("Choose one of this partnership.")})
    owner = links.get("owner")
    if owner is not None and owner.pk not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})


@transaction.atomic
def add_action_item(
    *, by, partnership, title: str, owner, due_date, meeting=None, problem=None, external_id=None
) -> ActionItem:
    """A new action (``created``): its owner is told unless they made it themselves."""
    require_member(by, partnership)
    _check_action_links(partnership, owner=owner, meeting=meeting, problem=problem)
    item = ActionItem(
        external_id=external_id or None,
        partnership=partnership,
        meeting=meeting,
        problem=problem,
        title=title,
        owner=owner,
        due_date=due_date,
        created_by=by,
    )
    item.full_clean()
    item.save()
    events.emit("action_item", "created", item, by=by)
    return item


@transaction.atomic
def update_action_item(*, by, item: ActionItem, status=None, **fields) -> ActionItem:
    """Change an action's title, owner, due date or links (an ERP resending it): ``changed``,
    a new owner is told. A new status goes through ``set_action_status`` and its rule of who
    may close an action."""
    require_member(by, item.partnership)
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    _check_action_links(item.partnership, **fields)
    before = events.snapshot(item)
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    changed = events.changed_fields(item, before)
    if changed:
        item.save()
        events.emit("action_item", "changed", item, by=by, changed=changed)
    if status is not None and status != item.status:
        item = set_action_status(by=by, item=item, status=status)
    return item


def can_change_action(user, item: ActionItem) -> bool:
    """Who may set an action's status: its owner, who created it, or an admin of either side
    (never a viewer)."""
    if not can_write(user, item.partnership):
        return False
    return user.pk in (item.owner_id, item.created_by_id) or has_role(
        user, item.partnership, ADMINS
    )


@transaction.atomic
def set_action_status(*, by, item: ActionItem, status: str) -> ActionItem:
    """Done, cancelled or open again: the event's action is ``done``, ``cancelled`` or
    ``reopened``. The status it already has changes nothing."""
    require_member(by, item.partnership)
    if status not in ActionItem.Status.values:
        raise ValidationError({"status": _("Unknown status.")})
    item = ActionItem.objects.select_for_update().get(pk=item.pk)
    if not can_change_action(by, item):
        raise PermissionDenied(_("Only the owner, who created it, or an admin changes an action."))
    if item.status == status:
        return item
    previous, item.status = item.status, status
    item.save()
    events.emit(
        "action_item", STATUS_ACTIONS[status], item, by=by, changed=["status"], previous=previous
    )
    return item


def remind_overdue_action_items(now=None) -> int:
    """Daily: each overdue open action reminds its owner, at most once a day (a ``reminded``
    event per action)."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    with transaction.atomic():
        items = list(
            ActionItem.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=ActionItem.Status.OPEN, due_date__lt=today)
            .filter(
                Q(last_reminded_at__isnull=True) | Q(last_reminded_at__lt=now - timedelta(hours=23))
            )
            .select_related("owner", "partnership", "meeting")
        )
        for item in items:
            item.last_reminded_at = now
            item.save(update_fields=["last_reminded_at"])
        events.publish(
            events.event("action_item", "reminded", item, changed=["last_reminded_at"])
            for item in items
        )
    return len(items)
