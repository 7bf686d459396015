"""The problem log: problems are raised (numbered per partnership), changed, discussed with
@mentions and moved through their statuses — nothing is deleted. Each write is a ``problem``
event; ``comms.subscribers`` tells the people."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from partnership import events
from partnership.models import Partnership, User

from ..models import Problem, ProblemComment
from .common import MAX_ATTACHMENT_BYTES, partnership_people, require_member

MENTION = re.compile(r"@([\w.+-]+@[\w-]+(?:\.[\w-]+)+|[\w.+-]+)")
TRANSITIONS = {
    "open": {"investigating", "resolved"},
    "investigating": {"open", "resolved"},
    "resolved": {"closed", "investigating"},
    "closed": set(),
}
#: The actions of status changes (:func:`status_action`).
PROBLEM_STATUS_ACTIONS = frozenset({"investigation_started", "resolved", "closed", "reopened"})
LINKS = ("product", "production_run", "audit", "decision_request")


def allowed_transitions(problem: Problem) -> list[str]:
    """The statuses the problem may go to next, for pages and the API."""
    return sorted(TRANSITIONS.get(problem.status, ()))


def status_action(before: str, after: str) -> str:
    """The action of a status change's event: ``investigation_started``, ``resolved``,
    ``closed``, or ``reopened`` (back to open, or a resolved problem investigated again)."""
    if after == Problem.Status.INVESTIGATING:
        return "reopened" if before == Problem.Status.RESOLVED else "investigation_started"
    return {"open": "reopened", "resolved": "resolved", "closed": "closed"}[after]


def _partnership_of(obj) -> int | None:
    if hasattr(obj, "partnership_id"):
        return obj.partnership_id
    return None


def _check_owner(partnership, owner) -> None:
    if owner is not None and owner.pk not in partnership_people(partnership):
        raise ValidationError({"owner": _("The owner must be a member of either side.")})


@transaction.atomic
def raise_problem(
    *, by, partnership, title, description, severity, owner=None, external_id=None, **links
) -> Problem:
    """A new problem (``created``): the other side's key people and the owner are told."""
    side, _m = require_member(by, partnership)
    owner = owner or by
    _check_owner(partnership, owner)
    for field, obj in links.items():
        if obj is not None and _partnership_of(obj) != partnership.pk:
            raise ValidationError({field: _("Link only objects of this partnership.")})
    Partnership.objects.select_for_update().get(pk=partnership.pk)
    number = (partnership.problems.aggregate(n=Max("number"))["n"] or 0) + 1
    problem = Problem(
        partnership=partnership,
        number=number,
        external_id=external_id or None,
        title=title,
        description=description,
        severity=severity,
        owner=owner,
        raised_by=by,
        **links,
    )
    problem.full_clean()
    problem.save()
    events.emit("problem", "created", problem, by=by, side=side)
    return problem


@transaction.atomic
def update_problem(*, by, problem: Problem, status=None, **fields) -> Problem:
    """Change a problem's text, severity, owner, resolution or links (an ERP resending it):
    ``changed``. A closed problem is final; a new status goes through ``change_problem_status``
    and its transitions (with ``resolution`` as the reason)."""
    require_member(by, problem.partnership)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    moving = status is not None and status != problem.status
    resolution = fields.pop("resolution", "") if moving else None
    if fields and problem.status == Problem.Status.CLOSED:
        raise ValidationError(_("This problem is closed; raise a new one."))
    _check_owner(problem.partnership, fields.get("owner"))
    for field in LINKS:
        obj = fields.get(field)
        if obj is not None and _partnership_of(obj) != problem.partnership_id:
            raise ValidationError({field: _("Link only objects of this partnership.")})
    if fields:
        before = events.snapshot(problem)
        for name, value in fields.items():
            setattr(problem, name, value)
        problem.full_clean()
        changed = events.changed_fields(problem, before)
        if changed:
            problem.save()
            events.emit("problem", "changed", problem, by=by, changed=changed)
    if moving:
        problem = change_problem_status(
            by=by, problem=problem, status=status, resolution=resolution or ""
        )
    return problem


@transaction.atomic
def comment_on_problem(*, by, problem: Problem, text: str, attachment=None) -> ProblemComment:
    """A comment (``commented``); ``@name`` or ``@email`` mentions tell the people of the
    partnership named."""
    require_member(by, problem.partnership)
    if not text.strip():
        raise ValidationError({"text": _("Write a comment.")})
    # The status as it is now (locked, as change_problem_status does), not as the caller saw it.
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    if problem.status == Problem.Status.CLOSED:
        raise ValidationError(_("This problem is closed; raise a new one or reopen it."))
    if attachment is not None and attachment.size > MAX_ATTACHMENT_BYTES:
        raise ValidationError({"attachment": _("The file is larger than 10 MB.")})
    comment = ProblemComment.objects.create(
        problem=problem,
        author=by,
        text=text.strip(),
        attachment=attachment or "",
        attachment_name=(attachment.name.rsplit("/", 1)[-1][:200] if attachment else ""),
    )
    mentioned = resolve_mentions(text, problem.partnership)
    comment.mentions.set(mentioned)
    # A touch for incremental syncs, not a change of the problem's fields (no history row).
    problem.updated_at = timezone.now()
    Problem.objects.filter(pk=problem.pk).update(updated_at=problem.updated_at)
    events.emit(
        "problem",
        "commented",
        problem,
        by=by,
        comment=comment,
        mentioned=tuple(mentioned),
        text=text,
    )
    return comment


def resolve_mentions(text: str, partnership) -> list:
    """@first.last, @firstname or @email — only people of this partnership can be mentioned."""
    # "Over to you, @anna." — a full stop after a name is punctuation, not part of it.
    tokens = {t.lower().rstrip(".") for t in MENTION.findall(text)}
    if not tokens:
        return []
    people = User.objects.filter(pk__in=partnership_people(partnership))
    found = []
    for user in people:
        names = {
            user.email.lower(),
            user.email.split("@")[0].lower(),
            user.first_name.lower(),
            f"{user.first_name}.{user.last_name}".lower(),
        }
        if tokens & {n for n in names if n}:
            found.append(user)
    return found


@transaction.atomic
def change_problem_status(*, by, problem: Problem, status: str, resolution: str = "") -> Problem:
    """open → investigating → resolved → closed; nothing is deleted, a closure needs a
    resolution. The event's action names the move (:func:`status_action`); the owner and who
    raised it are told."""
    require_member(by, problem.partnership)
    problem = Problem.objects.select_for_update().get(pk=problem.pk)
    if status not in TRANSITIONS.get(problem.status, set()):
        raise ValidationError(
            {
                "status": _("A problem cannot go from %(a)s to %(b)s.")
                % {"a": problem.get_status_display(), "b": status}
            }
        )
    if status in ("resolved", "closed") and not (resolution.strip() or problem.resolution):
        raise ValidationError({"resolution": _("Describe the resolution.")})
    previous = problem.status
    changed = ["status"]
    problem.status = status
    if resolution.strip() and resolution.strip() != problem.resolution:
        problem.resolution = resolution.strip()
        changed.append("resolution")
    problem.save()
    ProblemComment.objects.create(
        problem=problem,
        author=by,
        text=_("Status: %(s)s. %(r)s")
        % {"s": problem.get_status_display(), "r": resolution.strip()},
    )
    events.emit(
        "problem",
        status_action(previous, status),
        problem,
        by=by,
        changed=changed,
        previous=previous,
        resolution=resolution,
    )
    return problem
