import datetime as dt
import zoneinfo
from decimal import Decimal
from functools import cached_property

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe
from django.views.generic import TemplateView

from contracts.views import add_errors
from partnership.lists import ListMixin
from partnership.models import NotificationSettings
from partnership.permissions import EDITORS
from partnership.scoping import PartnershipScopedMixin, scoped_partnership

from . import ics, lists, recurrence, services
from .forms import (
    ActionItemForm,
    CommentForm,
    GoalForm,
    MeetingForm,
    MinutesForm,
    NotificationSettingsForm,
    OccurrenceForm,
    ProblemForm,
)
from .models import ActionItem, CalendarFeed, Goal, Meeting, Minutes, Problem, ProblemComment


class CommsMixin(PartnershipScopedMixin):
    tab = "meetings"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        m = self.membership  # read with the navigation: no query
        ctx.update(tab=self.tab, can_write=bool(m and m.role in EDITORS))
        return ctx


class MeetingListView(ListMixin, CommsMixin, TemplateView):
    template_name = "comms/meeting_list.html"
    list_spec = lists.MeetingList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        tz_default = self.request.user.time_zone or (
            self.request.active_membership.organization.time_zone
            if self.request.active_membership
            else "UTC"
        )
        ctx.update(
            upcoming=services.upcoming_occurrences(self.partnership),
            form=kwargs.get("form")
            or MeetingForm(
                partnership=self.partnership, initial={"time_zone": tz_default, "occurrences": 12}
            ),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        form = MeetingForm(request.POST, partnership=self.partnership)
        if form.is_valid():
            try:
                meeting = services.schedule_meeting(
                    by=request.user,
                    partnership=self.partnership,
                    attendees=list(form.cleaned_data["attendees"]),
                    **form.cleaned_data["fields"],
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Meeting scheduled; invitations are on their way."))
                return redirect(meeting)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class MeetingView(CommsMixin, TemplateView):
    template_name = "comms/meeting_detail.html"

    @cached_property
    def meeting(self):
        return get_object_or_404(
            Meeting.objects.for_partnership(self.partnership).select_related("organiser", "parent"),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        m = self.meeting
        now = timezone.now()
        minutes = Minutes.objects.filter(meeting=m).first()
        ctx.update(
            meeting=m,
            attendees=list(m.attendees.all()),
            agenda=list(m.agenda.all()),
            minutes=minutes,
            occurrences=recurrence.occurrences(m, window_start=now)[:20] if m.rrule else [],
            overrides=list(m.overrides.all()),
            actions=list(m.action_items.select_related("owner")),
            minutes_form=kwargs.get("minutes_form")
            or MinutesForm(
                initial={"notes": minutes.notes, "decisions": minutes.decisions}
                if minutes
                else None
            ),
            action_form=kwargs.get("action_form") or ActionItemForm(partnership=self.partnership),
            edit_form=kwargs.get("edit_form")
            or MeetingForm(partnership=self.partnership, initial=MeetingForm.initial_for(m)),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        m = self.meeting
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        if what == "edit":
            form = MeetingForm(request.POST, partnership=self.partnership)
            if form.is_valid():
                try:
                    services.update_meeting(
                        by=request.user,
                        meeting=m,
                        attendees=list(form.cleaned_data["attendees"]),
                        **form.cleaned_data["fields"],
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Meeting updated; attendees get the change."))
                    return redirect(m)
            return self.render_to_response(self.get_context_data(edit_form=form), status=400)
        if what == "agenda":
            self.run(
                lambda: services.save_agenda_item(
                    by=request.user, meeting=m, title=request.POST.get("title", "")
                ),
                _("Added to the agenda."),
            )
        elif what == "minutes":
            form = MinutesForm(request.POST)
            if form.is_valid():
                services.save_minutes(by=request.user, meeting=m, **form.cleaned_data)
                messages.success(request, _("Minutes saved."))
        elif what == "action":
            form = ActionItemForm(request.POST, partnership=self.partnership)
            if form.is_valid():
                try:
                    services.add_action_item(
                        by=request.user,
                        partnership=self.partnership,
                        meeting=m,
                        **form.cleaned_data,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    return redirect(m.get_absolute_url() + "#minutes")
            return self.render_to_response(self.get_context_data(action_form=form), status=400)
        elif what == "publish":
            self.run(
                lambda: services.publish_minutes(by=request.user, meeting=m),
                _("Minutes sent to the attendees."),
            )
        elif what == "cancel":
            self.run(
                lambda: services.cancel_meeting(by=request.user, meeting=m), _("Meeting cancelled.")
            )
        elif what in ("move-occurrence", "cancel-occurrence"):
            form = OccurrenceForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("Choose the occurrence and the new times."))
                return redirect(m)
            occ = form.cleaned_data["occurrence"]
            if what == "cancel-occurrence":
                self.run(
                    lambda: services.cancel_occurrence(
                        by=request.user, meeting=m, occurrence_start=occ
                    ),
                    _("This occurrence is cancelled."),
                )
            else:
                tz = zoneinfo.ZoneInfo(m.time_zone)
                data = form.cleaned_data
                if not (data["date"] and data["start_time"] and data["end_time"]):
                    messages.error(request, _("Give the new date and times."))
                    return redirect(m)
                start = timezone.make_aware(
                    dt.datetime.combine(data["date"], data["start_time"]), tz
                )
                end = timezone.make_aware(dt.datetime.combine(data["date"], data["end_time"]), tz)
                self.run(
                    lambda: services.reschedule_occurrence(
                        by=request.user, meeting=m, occurrence_start=occ, start=start, end=end
                    ),
                    _("This occurrence moved; the rest of the series stays."),
                )
        else:
            raise Http404
        return redirect(m)


@login_required
@require_safe  # a download: GET/HEAD only
def meeting_ics(request, partnership_pk, pk):
    partnership = scoped_partnership(request, partnership_pk)
    meeting = get_object_or_404(Meeting.objects.for_partnership(partnership), pk=pk)
    response = HttpResponse(
        ics.invitation(meeting, cancelled=meeting.status == "cancelled"),
        content_type="text/calendar; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="meeting-{meeting.pk}.ics"'
    return response


@login_required
@require_safe  # a download: GET/HEAD only
def minutes_pdf(request, partnership_pk, pk):
    from .pdf import render_minutes_pdf

    partnership = scoped_partnership(request, partnership_pk)
    meeting = get_object_or_404(Meeting.objects.for_partnership(partnership), pk=pk)
    response = HttpResponse(render_minutes_pdf(meeting), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="minutes-{meeting.pk}.pdf"'
    return response


class ActionListView(ListMixin, CommsMixin, TemplateView):
    """The partnership's action items; ``/actions/`` shows the user's own across partnerships."""

    template_name = "comms/action_list.html"
    tab = "meetings"
    list_spec = lists.ActionList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(actions=ctx["object_list"], today=timezone.localdate())
        return ctx

    def post(self, request, *args, **kwargs):
        item = get_object_or_404(
            ActionItem.objects.for_partnership(self.partnership), pk=request.POST.get("item") or 0
        )
        self.run(
            lambda: services.set_action_status(
                by=request.user, item=item, status=request.POST.get("status", "")
            ),
            _("Action updated."),
        )
        return redirect(request.get_full_path())


class MyActionsView(ListMixin, LoginRequiredMixin, TemplateView):
    """The user's own action items across all their partnerships (open ones by default)."""

    template_name = "comms/my_actions.html"
    list_spec = lists.MyActionList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(actions=ctx["object_list"], today=timezone.localdate())
        return ctx


my_actions = MyActionsView.as_view()


class ProblemListView(ListMixin, CommsMixin, TemplateView):
    template_name = "comms/problem_list.html"
    tab = "problems"
    list_spec = lists.ProblemList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            problems=ctx["object_list"],
            form=kwargs.get("form") or ProblemForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        form = ProblemForm(request.POST, partnership=self.partnership)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                problem = services.raise_problem(
                    by=request.user, partnership=self.partnership, **data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Problem raised; both sides see it now."))
                return redirect(problem)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ProblemView(CommsMixin, TemplateView):
    template_name = "comms/problem_detail.html"
    tab = "problems"

    @cached_property
    def problem(self):
        return get_object_or_404(
            Problem.objects.for_partnership(self.partnership).select_related(
                "owner",
                "raised_by",
                "product",
                "production_run__product",
                "audit",
                "decision_request",
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        p = self.problem
        ctx.update(
            problem=p,
            comments=p.comments.select_related("author").prefetch_related("mentions"),
            actions=p.action_items.select_related("owner"),
            transitions=services.allowed_transitions(p),
            comment_form=kwargs.get("comment_form") or CommentForm(),
            action_form=kwargs.get("action_form") or ActionItemForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        p = self.problem
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        if what == "comment":
            form = CommentForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    services.comment_on_problem(by=request.user, problem=p, **form.cleaned_data)
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    return redirect(p.get_absolute_url() + "#discussion")
            return self.render_to_response(self.get_context_data(comment_form=form), status=400)
        if what == "status":
            self.run(
                lambda: services.change_problem_status(
                    by=request.user,
                    problem=p,
                    status=request.POST.get("status", ""),
                    resolution=request.POST.get("resolution", ""),
                ),
                _("Status changed."),
            )
        elif what == "action":
            form = ActionItemForm(request.POST, partnership=self.partnership)
            if form.is_valid():
                try:
                    services.add_action_item(
                        by=request.user,
                        partnership=self.partnership,
                        problem=p,
                        **form.cleaned_data,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    return redirect(p)
            return self.render_to_response(self.get_context_data(action_form=form), status=400)
        else:
            raise Http404
        return redirect(p)


@login_required
@require_safe  # a download: GET/HEAD only
def comment_attachment(request, partnership_pk, pk, comment_pk):
    partnership = scoped_partnership(request, partnership_pk)
    comment = get_object_or_404(
        ProblemComment.objects.filter(problem__partnership=partnership, problem_id=pk),
        pk=comment_pk,
    )
    if not comment.attachment:
        raise Http404
    return FileResponse(
        comment.attachment.open("rb"), as_attachment=True, filename=comment.attachment_name
    )


class GoalListView(ListMixin, CommsMixin, TemplateView):
    template_name = "comms/goal_list.html"
    tab = "goals"
    list_spec = lists.GoalList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        goals = list(ctx["object_list"])
        for g in goals:
            g.chart = goal_chart(g)
        ctx.update(
            goals=goals,
            form=kwargs.get("form") or GoalForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        if request.POST.get("what") == "measure":
            goal = get_object_or_404(
                Goal.objects.for_partnership(self.partnership), pk=request.POST.get("goal") or 0
            )
            try:
                value = Decimal(request.POST.get("value", "").replace(",", "."))
                if not value.is_finite():
                    raise ArithmeticError
            except ArithmeticError:
                messages.error(request, _("Enter a number."))
            else:
                services.record_measurement(
                    by=request.user, goal=goal, date=timezone.localdate(), value=value
                )
                messages.success(request, _("Progress recorded."))
            return redirect("comms:goals", self.partnership.pk)
        form = GoalForm(request.POST, partnership=self.partnership)
        if form.is_valid():
            try:
                services.save_goal(
                    by=request.user, partnership=self.partnership, **form.cleaned_data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Goal added."))
                return redirect("comms:goals", self.partnership.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


def goal_chart(goal, width=300, height=90):
    points = [(m.date, float(m.value)) for m in goal.measurements.all()]
    values = [v for _d, v in points] + [float(goal.baseline), float(goal.target)]
    lo, hi = min(values), max(values)
    span = (hi - lo) or 1
    if len(points) < 2:
        return {"width": width, "height": height, "path": "", "target_y": None}
    first, last = points[0][0], points[-1][0]
    days = max((last - first).days, 1)

    def x(d):
        return 4 + (d - first).days / days * (width - 8)

    def y(v):
        return 6 + (hi - v) / span * (height - 12)

    return {
        "width": width,
        "height": height,
        "target_y": y(float(goal.target)),
        "path": "M" + " L".join(f"{x(d):.1f},{y(v):.1f}" for d, v in points),
    }


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def calendar_settings(request):
    """The private feed URL (revocable) and notification preferences."""
    feed = CalendarFeed.objects.filter(user=request.user).first()
    prefs = NotificationSettings.for_user(request.user)
    if request.method == "POST":
        what = request.POST.get("what")
        if what in ("create-feed", "regenerate-feed"):
            CalendarFeed.objects.update_or_create(
                user=request.user, defaults={"token": CalendarFeed.new_token()}
            )
            messages.success(request, _("New feed address created; the old one stops working."))
        elif what == "revoke-feed" and feed:
            feed.delete()
            messages.success(request, _("Feed revoked."))
        elif what == "preferences":
            form = NotificationSettingsForm(request.POST)
            form.is_valid()
            offsets = [
                m
                for key, m in (("reminder_24h", 1440), ("reminder_1h", 60), ("reminder_15m", 15))
                if form.cleaned_data.get(key)
            ]
            prefs.email_enabled = form.cleaned_data.get("email_enabled", False)
            prefs.reminder_offsets = offsets
            prefs.save()
            for meeting in services.feed_meetings(request.user).filter(end__gte=timezone.now()):
                services.replan_reminders(meeting)
            messages.success(request, _("Preferences saved."))
        return redirect("calendar_settings")
    form = NotificationSettingsForm(
        initial={
            "email_enabled": prefs.email_enabled,
            "reminder_24h": 1440 in prefs.reminder_offsets,
            "reminder_1h": 60 in prefs.reminder_offsets,
            "reminder_15m": 15 in prefs.reminder_offsets,
        }
    )
    url = request.build_absolute_uri(f"/calendar/{feed.token}.ics") if feed else None
    return render(request, "comms/calendar_settings.html", {"feed_url": url, "form": form})


@require_safe  # a download: GET/HEAD only
def calendar_feed(request, token):
    """Public URL, private token: a calendar app fetches it without logging in."""
    feed = (
        CalendarFeed.objects.select_related("user")
        .filter(token=token, user__is_active=True)
        .first()
    )
    if feed is None:
        raise Http404
    meetings = list(services.feed_meetings(feed.user))
    payload = ics.calendar(meetings, method=None)
    return HttpResponse(payload, content_type="text/calendar; charset=utf-8")
