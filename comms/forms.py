import zoneinfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from partnership.lookups import (
    AuditField,
    DecisionField,
    PersonField,
    ProductField,
    RunField,
    bind_lookups,
)
from partnership.models import TIME_ZONE_FORM_CHOICES, User

from .models import Goal, Meeting, Problem

REPEAT_CHOICES = [
    ("", _("Does not repeat")),
    ("FREQ=WEEKLY", _("Weekly")),
    ("FREQ=WEEKLY;INTERVAL=2", _("Every two weeks")),
    ("FREQ=MONTHLY", _("Monthly")),
    ("custom", _("Custom RRULE")),
]


def people_of(partnership):
    return User.objects.filter(
        memberships__organization_id__in=[partnership.oem_id, partnership.ems_id]
    ).distinct()


class MeetingForm(forms.Form):
    """Times are entered as wall-clock time in the meeting's zone, as people think of them."""

    title = forms.CharField(label=_("Title"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=Meeting.Kind.choices)
    date = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(label=_("Starts"), widget=forms.TimeInput(attrs={"type": "time"}))
    end_time = forms.TimeField(label=_("Ends"), widget=forms.TimeInput(attrs={"type": "time"}))
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_FORM_CHOICES)
    repeat = forms.ChoiceField(label=_("Repeats"), choices=REPEAT_CHOICES, required=False)
    occurrences = forms.IntegerField(
        label=_("Number of meetings"), min_value=1, max_value=500, required=False, initial=12
    )
    custom_rrule = forms.CharField(
        label=_("RRULE"),
        max_length=200,
        required=False,
        help_text=_("RFC 5545, e.g. FREQ=WEEKLY;BYDAY=TU;COUNT=10"),
    )
    location = forms.CharField(label=_("Location"), max_length=200, required=False)
    conference_url = forms.URLField(
        label=_("Conference link"), required=False, assume_scheme="https"
    )
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    attendees = forms.ModelMultipleChoiceField(
        label=_("Attendees"),
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["attendees"].queryset = people_of(partnership)

    def clean(self):
        data = super().clean()
        if not all(data.get(f) for f in ("date", "start_time", "end_time", "time_zone")):
            return data
        tz = zoneinfo.ZoneInfo(data["time_zone"])
        start = timezone.make_aware(timezone.datetime.combine(data["date"], data["start_time"]), tz)
        end = timezone.make_aware(timezone.datetime.combine(data["date"], data["end_time"]), tz)
        if end <= start:
            self.add_error("end_time", _("The meeting must end after it starts."))
        repeat = data.get("repeat") or ""
        if repeat == "custom":
            rrule = data.get("custom_rrule", "")
            if not rrule:
                self.add_error("custom_rrule", _("Enter the rule."))
        elif repeat:
            rrule = f"{repeat};COUNT={data.get('occurrences') or 12}"
        else:
            rrule = ""
        if self.errors:
            return data
        data["fields"] = {
            "title": data["title"],
            "kind": data["kind"],
            "start": start,
            "end": end,
            "time_zone": data["time_zone"],
            "rrule": rrule,
            "location": data["location"],
            "conference_url": data["conference_url"],
            "description": data["description"],
        }
        return data

    @classmethod
    def initial_for(cls, meeting):
        tz = zoneinfo.ZoneInfo(meeting.time_zone)
        start, end = meeting.start.astimezone(tz), meeting.end.astimezone(tz)
        return {
            "title": meeting.title,
            "kind": meeting.kind,
            "date": start.date(),
            "start_time": start.time(),
            "end_time": end.time(),
            "time_zone": meeting.time_zone,
            "repeat": "custom" if meeting.rrule else "",
            "custom_rrule": meeting.rrule,
            "location": meeting.location,
            "conference_url": meeting.conference_url,
            "description": meeting.description,
            "attendees": list(meeting.attendees.all()),
        }


class OccurrenceForm(forms.Form):
    occurrence = forms.DateTimeField(widget=forms.HiddenInput)
    date = forms.DateField(
        label=_("New date"), widget=forms.DateInput(attrs={"type": "date"}), required=False
    )
    start_time = forms.TimeField(
        label=_("Starts"), widget=forms.TimeInput(attrs={"type": "time"}), required=False
    )
    end_time = forms.TimeField(
        label=_("Ends"), widget=forms.TimeInput(attrs={"type": "time"}), required=False
    )


class ActionItemForm(forms.Form):
    title = forms.CharField(label=_("Action"), max_length=300)
    owner = PersonField(label=_("Owner"))
    due_date = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        bind_lookups(self, partnership)


class MinutesForm(forms.Form):
    decisions = forms.CharField(
        label=_("Decisions"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    notes = forms.CharField(
        label=_("Notes"), widget=forms.Textarea(attrs={"rows": 6}), required=False
    )


class ProblemForm(forms.ModelForm):
    class Meta:
        model = Problem
        fields = [
            "title",
            "severity",
            "owner",
            "description",
            "product",
            "production_run",
            "audit",
            "decision_request",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        # Search fields: a partnership has thousands of products and runs (issue #9).
        field_classes = {
            "owner": PersonField,
            "product": ProductField,
            "production_run": RunField,
            "audit": AuditField,
            "decision_request": DecisionField,
        }

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        bind_lookups(self, partnership)
        self.fields["owner"].required = False


class CommentForm(forms.Form):
    text = forms.CharField(
        label=_("Comment"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Mention someone with @firstname or @e-mail."),
    )
    attachment = forms.FileField(label=_("Attachment"), required=False)


class GoalForm(forms.ModelForm):
    class Meta:
        model = Goal
        fields = [
            "title",
            "horizon",
            "metric",
            "unit",
            "baseline",
            "target",
            "current",
            "due_date",
            "owner",
        ]
        widgets = {"due_date": forms.DateInput(attrs={"type": "date"})}
        field_classes = {"owner": PersonField}

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        bind_lookups(self, partnership)


class NotificationSettingsForm(forms.Form):
    email_enabled = forms.BooleanField(label=_("Send me e-mail"), required=False)
    reminder_24h = forms.BooleanField(
        label=_("Remind me 24 hours before a meeting"), required=False
    )
    reminder_1h = forms.BooleanField(label=_("Remind me 1 hour before"), required=False)
    reminder_15m = forms.BooleanField(label=_("Remind me 15 minutes before"), required=False)
