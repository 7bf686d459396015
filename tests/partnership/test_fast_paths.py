"""The shortcuts taken for speed (#9) must not change what users see: choice labels in the
active language, form widgets with Django's markup, meeting occurrences."""

import datetime as dt
import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils import translation
from django.utils.safestring import mark_safe

from comms import recurrence
from comms.models import Meeting
from contracts.models import DecisionRequest
from partnership.choices import FrozenChoices
from partnership.form_renderer import FormRenderer
from partnership.forms import OrganizationForm, ProfileForm
from partnership.models import TIME_ZONE_CHOICES


def _same_markup(html):
    return re.sub(r"\s+", " ", html).replace(" </div>", "</div>")


class Widgets(forms.Form):
    select = forms.ChoiceField(
        choices=[("a&b", "A <&> B"), ("Group", [("g1", "G1"), ("g2", "G2")]), ("", "---")],
        initial="g2",
        required=False,
    )
    multiple = forms.MultipleChoiceField(
        choices=[("1", "one"), ("2", "two"), ("3", 'th"ree')], initial=["1", "3"]
    )
    checks = forms.MultipleChoiceField(
        choices=[("x&y", "X <&> Y"), ("Group", [("g1", "G1"), ("g2", "G2")])],
        initial=["g2"],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checks"}),
        required=False,
    )
    radio = forms.ChoiceField(
        choices=[(1, "one"), (2, "two")],
        initial=2,
        widget=forms.RadioSelect(attrs={"data-x": 'q"', "disabled": True}),
    )


class Inputs(forms.Form):
    """One field per input widget the renderer writes in Python, with awkward values."""

    text = forms.CharField(label='Name <"&">', initial='a "quoted" <b>value</b>', max_length=9)
    safe = forms.CharField(label=mark_safe("<em>Safe</em>"), initial=mark_safe("&amp;"))
    empty = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "x"}))
    number = forms.IntegerField(initial=12, min_value=1)
    decimal = forms.DecimalField(initial="1.50", required=False)
    email = forms.EmailField(initial="a@b.example")
    url = forms.URLField(required=False)
    password = forms.CharField(widget=forms.PasswordInput(render_value=True), initial="pw")
    hidden = forms.CharField(widget=forms.HiddenInput, initial="h&i")
    date = forms.DateField(initial=dt.date(2026, 11, 25), widget=forms.DateInput({"type": "date"}))
    when = forms.DateTimeField(initial=dt.datetime(2026, 11, 25, 9, 30))
    time = forms.TimeField(initial=dt.time(9, 30), widget=forms.TimeInput({"type": "time"}))
    flag = forms.BooleanField(initial=True, required=False)
    off = forms.BooleanField(initial=False, required=False, disabled=True)
    upload = forms.FileField(required=False)
    search = forms.CharField(widget=forms.TextInput({"type": "search", "data-x": True}))
    notes = forms.CharField(widget=forms.Textarea, initial="<script>")


@pytest.mark.parametrize("name", ["select", "multiple", "checks", "radio"])
def test_choice_widgets_render_djangos_markup(name):
    ours = str(Widgets(renderer=FormRenderer())[name])
    django = str(Widgets(renderer=DjangoTemplates())[name])
    assert _same_markup(ours) == _same_markup(django)
    assert "<option" in ours or "<input" in ours


@pytest.mark.parametrize("name", list(Inputs.base_fields))
@pytest.mark.parametrize("bound", [False, True])
def test_input_widgets_and_labels_render_djangos_markup(name, bound):
    data = {"text": 'x"<y>', "number": "abc", "flag": "on", "when": "2026-11-25 10:00"}
    ours = Inputs(data if bound else None, renderer=FormRenderer())[name]
    django = Inputs(data if bound else None, renderer=DjangoTemplates())[name]
    assert str(ours) == str(django)
    assert ours.label_tag() == django.label_tag()
    assert ours.label_tag(attrs={"class": "x", "hidden": True}) == django.label_tag(
        attrs={"class": "x", "hidden": True}
    )
    assert str(ours.errors) == str(django.errors)


def test_a_whole_form_renders_as_with_djangos_renderer():
    data = {"text": "too long <for> the field", "email": "nope"}
    ours, django = Inputs(data, renderer=FormRenderer()), Inputs(data, renderer=DjangoTemplates())
    assert str(ours) == str(django)
    assert 'value="too long &lt;for&gt; the field"' in str(ours)
    assert '<ul class="errorlist" id="id_email_error"><li>' in str(ours)
    ours.add_error(None, "Both <b>wrong</b>")  # a form-wide error: no field id
    django.add_error(None, "Both <b>wrong</b>")
    assert str(ours.non_field_errors()) == str(django.non_field_errors())
    assert str(ours.non_field_errors()).startswith('<ul class="errorlist nonfield"><li>Both &lt;b')


def test_bound_widgets_keep_the_submitted_choice():
    form = Widgets(data={"select": "g1", "multiple": ["2"], "checks": ["x&y"], "radio": "1"})
    assert form.is_valid(), form.errors
    html = str(form["select"]) + str(form["checks"])
    assert '<option value="g1" selected>' in html
    assert 'value="x&amp;y" class="checks" id="id_checks_0" checked' in html


def test_choice_labels_follow_the_active_language():
    request = DecisionRequest(status=DecisionRequest.Status.AWAITING_OEM)
    with translation.override("en"):
        english = request.get_status_display()
    with translation.override("pl"):
        polish = request.get_status_display()
    assert english == str(DecisionRequest.Status.AWAITING_OEM.label)
    assert polish != english and polish
    request.status = "no-such-status"  # an unknown value shows as itself, as in Django
    assert request.get_status_display() == "no-such-status"


def test_time_zone_selects_validate_and_keep_the_blank_choice():
    profile = ProfileForm()
    assert '<option value="" selected>' in str(profile["time_zone"])  # "my organisation's"
    assert '<option value=""' not in str(OrganizationForm()["time_zone"])
    data = {"first_name": "A", "last_name": "B", "language": ""}
    assert ProfileForm(data={**data, "time_zone": "Europe/Warsaw"}).is_valid()
    bad = ProfileForm(data={**data, "time_zone": "Mars/Olympus"})
    assert not bad.is_valid() and "time_zone" in bad.errors
    assert list(FrozenChoices(TIME_ZONE_CHOICES)) == TIME_ZONE_CHOICES


def test_occurrences_in_a_window_match_the_whole_expansion():
    start = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    meeting = Meeting(
        title="Weekly",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        rrule="FREQ=WEEKLY;COUNT=60",
        exdates=[],
    )
    everything = recurrence.occurrences(meeting)
    assert len(everything) == 60
    window_start = dt.datetime(2026, 6, 1, 7, 30, tzinfo=dt.UTC)  # inside an occurrence
    window_end = window_start + dt.timedelta(days=90)
    expected = [(s, e) for s, e in everything if e > window_start and s < window_end]
    assert recurrence.occurrences(meeting, window_start, window_end) == expected
    # 09:00 Berlin all year: 07:00 UTC in summer, 08:00 in winter
    assert {s.astimezone(dt.UTC).hour for s, _e in everything} == {7, 8}
    assert expected[0][0] < window_start < expected[0][1]


@pytest.mark.parametrize(
    "viewname,count",
    [("schedules:product", 2), ("schedules:run", 2), ("audits:audit", 2), ("audits:finding", 2),
     ("contracts:detail", 2), ("contracts:decision_detail", 2), ("comms:meeting", 2),
     ("comms:problem", 2), ("partnership_detail", 1)],
)  # fmt: skip
def test_object_links_are_reversed_as_by_django(viewname, count):
    from django.urls import reverse, set_script_prefix

    from partnership.routes import reverse_ids

    for ids in [(1, 2), (987, 987654), (10**12, 7)]:
        args = ids[:count]
        assert reverse_ids(viewname, *args) == reverse(viewname, args=args)
    set_script_prefix("/portal/")  # behind a reverse proxy's path
    try:
        assert reverse_ids(viewname, *(5, 6)[:count]) == reverse(viewname, args=(5, 6)[:count])
        assert reverse_ids(viewname, *(5, 6)[:count]).startswith("/portal/")
    finally:
        set_script_prefix("/")


@pytest.mark.parametrize("name", ["checks", "radio"])
def test_single_options_render_djangos_markup(name):
    """Templates that lay checkboxes out themselves use ``{{ option.tag }}`` and ``{{ option }}``."""
    ours = list(Widgets(renderer=FormRenderer())[name])
    django = list(Widgets(renderer=DjangoTemplates())[name])
    assert [o.tag() for o in ours] == [o.tag() for o in django]
    assert [str(o) for o in ours] == [str(o) for o in django]
    assert any("checked" in o.tag() for o in ours)
