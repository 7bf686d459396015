"""One write path (#15): the same change made through the page, the API (PUT and PATCH), the
upsert by external id and the bulk upsert must leave the same trace — the same webhook
deliveries, the same audit-trail rows, the same notifications. A path that writes without
announcing itself (the bulk upsert used to) fails here, for every synced type.

Each path runs in a savepoint that is rolled back afterwards, so every path starts from the
same data; what it left behind is read before the rollback and normalised (ids of objects
the path created, times) so that the traces can be compared.
"""

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from comms import services as comms
from integrations import webhooks
from integrations.models import WebhookDelivery, WebhookSubscription
from partnership.history import kinds
from partnership.models import ApiToken, Notification
from schedules import services as schedules
from schedules.models import LongLeadItem, Product, ProductionRun
from tests.contracts.conftest import active_contract, draft  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

#: Times of the write itself (the same write a few milliseconds later).
VOLATILE = {
    "history_id",
    "history_date",
    "updated_at",
    "created_at",
    "changed_at",
    "confirmed_at",
    "due_at",
}
#: Values drawn at random for a new object (two identical writes draw two): a meeting's
#: iCalendar UID (``uuid4``), which calendars key it by.
RANDOM = {"uid"}


class _Rollback(Exception):
    pass


@dataclass
class Trace:
    webhooks: list = field(default_factory=list)
    history: list = field(default_factory=list)
    notifications: list = field(default_factory=list)


def _marks():
    return {
        "delivery": WebhookDelivery.objects.order_by("-pk").values_list("pk", flat=True).first()
        or 0,
        "notification": Notification.objects.order_by("-pk").values_list("pk", flat=True).first()
        or 0,
        "history": {
            kind.key: kind.history_model._default_manager.order_by("-history_id")
            .values_list("history_id", flat=True)
            .first()
            or 0
            for kind in kinds().values()
        },
        "now": timezone.now(),
    }


def _trace(marks, new_ids) -> Trace:
    """What was written since ``marks``; ids of objects the path created become names."""

    def name(model_label, pk):
        return new_ids.get((model_label, pk), pk)

    def scrub(text):
        for (_label, pk), alias in new_ids.items():
            text = re.sub(rf"/{pk}/", f"/{alias}/", text)
        return text

    trace = Trace()
    for d in WebhookDelivery.objects.filter(pk__gt=marks["delivery"]).order_by("pk"):
        obj = d.payload["object"]
        trace.webhooks.append(
            (
                d.subscription.organization.name,
                d.event,
                d.payload.get("action"),
                tuple(sorted(d.payload.get("changed", []))),
                obj["type"],
                obj["external_id"],
                obj["status"],
            )
        )
    for n in Notification.objects.filter(pk__gt=marks["notification"]).order_by("pk"):
        trace.notifications.append((n.user.email, scrub(n.subject), scrub(n.body), scrub(n.url)))
    for kind in kinds().values():
        model = kind.history_model
        rows = model._default_manager.filter(history_id__gt=marks["history"][kind.key])
        for row in rows.order_by("history_id"):
            values = {}
            for f in model._meta.concrete_fields:
                if f.name in VOLATILE | RANDOM or f.name == "history_change_reason":
                    continue
                value = getattr(row, f.attname)
                if f.name == "id":
                    value = name(kind.model_label, value)
                elif f.is_relation and f.related_model is not None:
                    value = name(f.related_model._meta.label, value)
                values[f.name] = value
            trace.history.append((kind.key, values))
    return trace


def _new_ids(marks_pk: dict) -> dict:
    """``{(model label, pk): "new:<label>:<n>"}`` for rows of the tracked models created after
    the marks (their ids differ from path to path; their order does not)."""
    out = {}
    for label, last in marks_pk.items():
        model = apps.get_model(label)
        for n, pk in enumerate(
            model._base_manager.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
        ):
            out[(label, pk)] = f"new:{label}:{n}"
    return out


def run_path(path, *args) -> Trace:
    """``path(*args)`` in a savepoint rolled back afterwards; what it wrote, normalised."""
    labels = [kind.model_label for kind in kinds().values()]
    marks = _marks()
    last_pk = {
        label: apps.get_model(label)
        ._base_manager.order_by("-pk")
        .values_list("pk", flat=True)
        .first()
        or 0
        for label in labels
    }
    try:
        with transaction.atomic():
            path(*args)
            trace = _trace(marks, _new_ids(last_pk))
            raise _Rollback
    except _Rollback:
        pass
    return trace


def assert_same(traces: dict):
    """Every path left the same trace as the first, and the trace is not empty."""
    (first_name, first), *others = traces.items()
    assert first.webhooks, f"{first_name} sent no webhook"
    assert first.history, f"{first_name} recorded no history"
    for name, trace in others:
        for part in ("webhooks", "history", "notifications"):
            got, want = getattr(trace, part), getattr(first, part)
            assert got == want, f"{part}: {name} ≠ {first_name}: {_difference(got, want)}"


def _difference(got, want) -> str:
    if len(got) != len(want):
        return f"{len(got)} rows ≠ {len(want)}: {got} / {want}"
    for a, b in zip(got, want, strict=True):
        if a != b:
            if isinstance(a, tuple) and isinstance(a[-1], dict):
                keys = {k for k in a[-1].keys() | b[-1].keys() if a[-1].get(k) != b[-1].get(k)}
                return f"{a[0]}: " + ", ".join(
                    f"{k}={a[-1].get(k)!r}≠{b[-1].get(k)!r}" for k in sorted(keys)
                )
            return f"{a} ≠ {b}"
    return ""


# --- the world --------------------------------------------------------------------------------


@pytest.fixture
def hooks(world):
    """Both companies' ERPs listen to every event."""
    for org in (world.oem, world.ems):
        WebhookSubscription.objects.create(
            organization=org, url=f"https://erp.example/{org.pk}", events=webhooks.event_names()
        )


@pytest.fixture
def on_page(world):
    def login(user):
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def erp():
    def login(user):
        _token, key = ApiToken.issue(user, "erp")
        return Client(HTTP_AUTHORIZATION=f"Token {key}")

    return login


def ok(response, *codes):
    assert response.status_code in (codes or (200, 201, 302)), response.content[:500]
    return response


def put(client, url, data):
    return ok(client.put(url, data, content_type="application/json"))


def patch(client, url, data):
    return ok(client.patch(url, data, content_type="application/json"))


def post_json(client, url, data):
    return ok(client.post(url, data, content_type="application/json"))


def upsert_paths(erp_client, resource, partnership, external_id, fields):
    """The two upsert endpoints, each making the same change."""
    return {
        "upsert by external id": lambda: put(
            erp_client,
            f"/api/v1/{resource}/by-external-id/{external_id}/",
            {"partnership": partnership.pk, **fields},
        ),
        "bulk upsert": lambda: post_json(
            erp_client,
            f"/api/v1/{resource}/bulk-upsert/",
            {"partnership": partnership.pk, "items": [{"external_id": external_id, **fields}]},
        ),
    }


# --- products ----------------------------------------------------------------------------------


def make_product(world, **fields):
    fields = {"part_number": "MB-200", "revision": "C", "name": "Main board", **fields}
    return schedules.save_product(by=world.buyer, partnership=world.ours, **fields)


PRODUCT_FORM = {
    "part_number": "MB-200",
    "revision": "C",
    "name": "Main board",
    "description": "",
    "ipc_class": 2,
    "units_per_hour": "",
    "external_id": "SAP-MB-200",
}


def test_a_product_changed_by_any_path(world, hooks, on_page, erp):
    product = make_product(world, external_id="SAP-MB-200")
    change = {"name": "Main board, rev. C2", "description": "Conformal coating added"}
    url = f"/api/v1/products/{product.pk}/"
    form = {**PRODUCT_FORM, **change, "what": "edit"}
    api = erp(world.buyer)
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("schedules:product", args=[world.ours.pk, product.pk]), form
            )
        ),
        "API PUT": lambda: put(
            api,
            url,
            {**PRODUCT_FORM, "units_per_hour": None, **change, "partnership": world.ours.pk},
        ),
        "API PATCH": lambda: patch(api, url, change),
        **upsert_paths(api, "products", world.ours, "SAP-MB-200", change),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    assert traces["page"].webhooks[0][1:4] == (
        "product.changed",
        "changed",
        ("description", "name"),
    )


def test_a_product_created_by_any_path(world, hooks, on_page, erp):
    fields = {"part_number": "PSU-9", "revision": "A", "name": "Power supply"}
    api = erp(world.buyer)
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("schedules:products", args=[world.ours.pk]),
                {**PRODUCT_FORM, **fields, "external_id": "SAP-PSU-9"},
            )
        ),
        "API POST": lambda: post_json(
            api,
            "/api/v1/products/",
            {**fields, "external_id": "SAP-PSU-9", "partnership": world.ours.pk},
        ),
        **upsert_paths(api, "products", world.ours, "SAP-PSU-9", fields),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    # The product and its whole readiness checklist enter the audit trail.
    kinds_recorded = [key for key, _values in traces["page"].history]
    assert kinds_recorded.count("product") == 1 and kinds_recorded.count("readiness-item") == 7


def test_an_unchanged_product_leaves_no_trace_by_any_path(world, hooks, on_page, erp):
    product = make_product(world, external_id="SAP-MB-200")
    same = {"name": product.name}
    api = erp(world.buyer)
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("schedules:product", args=[world.ours.pk, product.pk]),
                {**PRODUCT_FORM, "what": "edit"},
            )
        ),
        "API PATCH": lambda: patch(api, f"/api/v1/products/{product.pk}/", same),
        **upsert_paths(api, "products", world.ours, "SAP-MB-200", same),
    }
    for name, path in paths.items():
        assert run_path(path) == Trace(), name


# --- production runs ---------------------------------------------------------------------------


@pytest.fixture
def confirmed_run(world):
    """A run the EMS confirmed: a change is judged against the flex terms (none agreed here,
    so any change sends it back to the EMS, who is told)."""
    product = make_product(world, external_id="SAP-MB-200")
    for item in product.readiness.all():
        item.required = False
        item.save()
    schedules.release_for_launch(by=world.buyer, product=product)
    launch = timezone.localdate() + dt.timedelta(weeks=10)
    run = schedules.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=500,
        planned_launch=launch,
        due_date=launch + dt.timedelta(days=7),
        external_id="PO-4711",
    )
    return schedules.confirm_run(by=world.account_manager, run=run)


def test_a_committed_run_changed_by_any_path(world, hooks, on_page, erp, confirmed_run):
    run = confirmed_run
    due = run.due_date + dt.timedelta(weeks=1)
    change = {"quantity": 650, "due_date": due.isoformat()}
    url = f"/api/v1/production-runs/{run.pk}/"
    api = erp(world.buyer)
    body = {
        "partnership": world.ours.pk,
        "product": run.product_id,
        "external_id": run.external_id,
        "planned_launch": run.planned_launch.isoformat(),
        "priority": run.priority,
        **change,
    }
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("schedules:run", args=[world.ours.pk, run.pk]),
                {"what": "change", "planned_launch": run.planned_launch.isoformat(), **change},
            )
        ),
        "API PUT": lambda: put(api, url, body),
        "API PATCH": lambda: patch(api, url, change),
        **upsert_paths(api, "production-runs", world.ours, run.external_id, change),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    trace = traces["page"]
    assert {w[1:4] for w in trace.webhooks} == {
        (
            "production_run.changed",
            "changed",
            ("confirmed_at", "confirmed_by", "due_date", "quantity", "status"),
        )
    }
    # The EMS is told the run needs its confirmation again, once, whatever the path.
    assert [n[1] for n in trace.notifications if n[0] == world.account_manager.email] == [
        f"{ProductionRun.objects.get(pk=run.pk).product.part_number} × 650 "
        f"({run.planned_launch:%Y-%m-%d}) changed beyond the flex terms: please confirm"
    ]


def test_a_run_ordered_by_any_path(world, hooks, on_page, erp):
    product = make_product(world, external_id="SAP-MB-200")
    launch = timezone.localdate() + dt.timedelta(weeks=12)
    fields = {
        "quantity": 250,
        "planned_launch": launch.isoformat(),
        "due_date": (launch + dt.timedelta(days=5)).isoformat(),
        "priority": 3,
    }
    api = erp(world.buyer)
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("schedules:runs", args=[world.ours.pk]),
                {**fields, "product": "MB-200 rev C", "external_id": "PO-9"},
            )
        ),
        "API POST": lambda: post_json(
            api,
            "/api/v1/production-runs/",
            {**fields, "product": product.pk, "external_id": "PO-9", "partnership": world.ours.pk},
        ),
        **upsert_paths(
            api, "production-runs", world.ours, "PO-9", {**fields, "product": product.pk}
        ),
    }
    assert_same({name: run_path(path) for name, path in paths.items()})


# --- long-lead items ---------------------------------------------------------------------------


def test_a_long_lead_item_recorded_and_changed_by_any_path(world, hooks, on_page, erp):
    product = make_product(world, external_id="SAP-MB-200")
    fields = {
        "component": "STM32H743",
        "description": "MCU",
        "lead_time_weeks": 26,
        "quantity_per_assembly": "1.000",
        "unit_price": "9.80",
    }
    api = erp(world.account_manager)
    created = {
        "page": lambda: ok(
            on_page(world.account_manager).post(
                reverse("schedules:product", args=[world.ours.pk, product.pk]),
                {**fields, "what": "long-lead"},
            )
        ),
        "API POST": lambda: post_json(
            api, "/api/v1/long-lead-items/", {**fields, "product": product.pk}
        ),
        **upsert_paths(
            api, "long-lead-items", world.ours, "LL-1", {**fields, "product": product.pk}
        ),
    }
    traces = {name: run_path(path) for name, path in created.items()}
    # The page and the plain POST set no external id; the upserts do: compare apart.
    assert_same({k: traces[k] for k in ("page", "API POST")})
    assert_same({k: traces[k] for k in ("upsert by external id", "bulk upsert")})

    item = schedules.save_long_lead_item(
        by=world.account_manager, product=product, external_id="LL-1", **fields
    )
    change = {"lead_time_weeks": 30, "unit_price": "11.20"}
    url = f"/api/v1/long-lead-items/{item.pk}/"
    changed = {
        "API PUT": lambda: put(api, url, {**fields, **change, "product": product.pk}),
        "API PATCH": lambda: patch(api, url, change),
        **upsert_paths(api, "long-lead-items", world.ours, "LL-1", change),
    }
    assert_same({name: run_path(path) for name, path in changed.items()})
    assert LongLeadItem.objects.get(pk=item.pk).lead_time_weeks == 26  # all rolled back
    assert Product.objects.filter(partnership=world.ours).count() == 1


# --- decision requests -----------------------------------------------------------------------


@pytest.mark.usefixtures("active_contract")
def test_a_decision_request_raised_by_any_path(world, hooks, on_page, erp):
    facts = {
        "title": "Replace C12 with a Murata part",
        "category": "alternate_source",
        "description": "Same footprint, X7R",
        "cost_impact": "120.00",
        "outside_avl": True,
    }
    api = erp(world.account_manager)
    traces = {
        "page": run_path(
            lambda: ok(
                on_page(world.account_manager).post(
                    reverse("contracts:decision_create", args=[world.ours.pk]),
                    {**facts, "outside_avl": "on"},
                )
            )
        ),
        "API POST": run_path(
            lambda: post_json(
                api, "/api/v1/decision-requests/", {**facts, "partnership": world.ours.pk}
            )
        ),
    }
    assert_same(traces)
    assert {w[1:3] for w in traces["page"].webhooks} == {("decision_request.raised", "raised")}
    assert traces["page"].notifications  # the OEM is asked
    # With the ERP's key: the upserts (the page and POST set no external id).
    upserts = upsert_paths(api, "decision-requests", world.ours, "SAP-DR-1", facts)
    assert_same({name: run_path(path) for name, path in upserts.items()})


# --- findings ----------------------------------------------------------------------------------


@pytest.fixture
def started_audit(world):
    from audits import services as audits
    from audits.models import AuditTemplate
    from audits.template_data import ensure_installed

    ensure_installed()
    audit = audits.plan_audit(
        by=world.buyer,
        partnership=world.ours,
        template=AuditTemplate.objects.get(key="process-audit", version=1),
        kind="process",
        title="Process audit SMT line 2",
        planned_date=timezone.localdate(),
    )
    return audits.start_audit(by=world.buyer, audit=audit)


def test_a_finding_raised_and_corrected_by_any_path(world, hooks, on_page, erp, started_audit):
    from audits import services as audits

    audit = started_audit
    fields = {
        "classification": "minor",
        "clause": "8.5.1",
        "description": "Paste age not logged",
        "evidence": "Line 2, 10:40",
    }
    api = erp(world.buyer)
    raised = {
        "page": run_path(
            lambda: ok(
                on_page(world.buyer).post(
                    reverse("audits:audit", args=[world.ours.pk, audit.pk]),
                    {**fields, "what": "finding"},
                )
            )
        ),
        "API POST": run_path(
            lambda: post_json(api, "/api/v1/findings/", {**fields, "audit": audit.pk})
        ),
    }
    assert_same(raised)
    assert raised["page"].notifications  # the EMS is told
    upserts = upsert_paths(api, "findings", world.ours, "QMS-F1", {**fields, "audit": audit.pk})
    assert_same({name: run_path(path) for name, path in upserts.items()})

    # A finding is corrected only by its auditors' systems (no page edits a finding, the API
    # has no PUT for it): the two upserts, and the service they share.
    audits.raise_finding(by=world.buyer, audit=audit, external_id="QMS-F1", **fields)
    change = {"classification": "major", "description": "Paste age never logged"}
    traces = {
        name: run_path(path)
        for name, path in upsert_paths(api, "findings", world.ours, "QMS-F1", change).items()
    }
    assert_same(traces)
    assert {w[1:4] for w in traces["bulk upsert"].webhooks} == {
        ("finding.changed", "changed", ("classification", "description"))
    }


# --- meetings ----------------------------------------------------------------------------------

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _meeting_day():
    return timezone.localdate() + dt.timedelta(weeks=2)


def meeting_form(day, attendees, **fields):
    """The meeting page's form (``MeetingForm``): wall-clock times in the meeting's zone."""
    return {
        "title": "Quality review Q3",
        "kind": "quality",
        "date": day.isoformat(),
        "start_time": "09:00",
        "end_time": "10:30",
        "time_zone": "Europe/Berlin",
        "repeat": "",
        "occurrences": "12",
        "custom_rrule": "",
        "location": "",
        "conference_url": "",
        "description": "",
        "attendees": [u.pk for u in attendees],
        **fields,
    }


def meeting_json(day, attendees, **fields):
    """The same meeting as the API writes it: aware ISO times, attendees by id."""
    start = dt.datetime.combine(day, dt.time(9, 0), BERLIN)
    return {
        "title": "Quality review Q3",
        "kind": "quality",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(minutes=90)).isoformat(),
        "time_zone": "Europe/Berlin",
        "attendees": [u.pk for u in attendees],
        **fields,
    }


@pytest.fixture
def series(world):
    """A weekly quality review, 12 times, synced from the OEM's CRM."""
    start = dt.datetime.combine(_meeting_day(), dt.time(9, 0), BERLIN)
    return comms.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Quality review Q3",
        kind="quality",
        start=start,
        end=start + dt.timedelta(minutes=90),
        time_zone="Europe/Berlin",
        rrule="FREQ=WEEKLY;COUNT=12",
        attendees=[world.account_manager],
        external_id="CRM-M1",
    )


def series_edit_form(series, attendees, **fields):
    """The series' edit form as the page fills it (``MeetingForm.initial_for``: its rule as a
    custom one), with ``fields`` changed."""
    return {
        **meeting_form(
            series.start.astimezone(BERLIN).date(),
            attendees,
            repeat="custom",
            custom_rrule=series.rrule,
            **fields,
        ),
        "what": "edit",
    }


def test_a_meeting_changed_by_any_path(world, hooks, on_page, erp, series):
    attendees = [world.account_manager, world.ems_admin]
    change = {"title": "Quality review Q3 (8D of lot 42)", "location": "Gdańsk, room 2"}
    url = f"/api/v1/meetings/{series.pk}/"
    api = erp(world.buyer)
    # A meeting has no PUT: PATCH changes the fields sent (of the whole series).
    assert api.put(url, {}, content_type="application/json").status_code == 405
    sent = {**change, "attendees": [u.pk for u in attendees]}
    paths = {
        # The page sends the whole form, the rule and times unchanged.
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:meeting", args=[world.ours.pk, series.pk]),
                series_edit_form(series, attendees, **change),
            )
        ),
        "API PATCH": lambda: patch(api, url, sent),
        **upsert_paths(api, "meetings", world.ours, "CRM-M1", sent),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    trace = traces["page"]
    # One update for both companies' ERPs (the attendees get an updated invitation by mail).
    assert [w[:4] for w in trace.webhooks] == [
        (org.name, "meeting.changed", "changed", ("attendees", "location", "title"))
        for org in (world.oem, world.ems)
    ]
    assert [(key, v["title"], v["rrule"], v["sequence"]) for key, v in trace.history] == [
        ("meeting", change["title"], "FREQ=WEEKLY;COUNT=12", 1)
    ]


def test_an_unchanged_meeting_leaves_no_trace_by_any_path(world, hooks, on_page, erp, series):
    """Sending a series back as it is (the edit form as shown, an ERP's resync) sends no
    updated invitation, no webhook and writes no history row."""
    attendees = [world.account_manager]
    api = erp(world.buyer)
    same = {"title": series.title, "attendees": [u.pk for u in attendees]}
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:meeting", args=[world.ours.pk, series.pk]),
                series_edit_form(series, attendees),
            )
        ),
        "API PATCH": lambda: patch(api, f"/api/v1/meetings/{series.pk}/", same),
        **upsert_paths(
            api,
            "meetings",
            world.ours,
            "CRM-M1",
            {**meeting_json(_meeting_day(), attendees), "rrule": "FREQ=WEEKLY;COUNT=12"},
        ),
    }
    for name, path in paths.items():
        assert run_path(path) == Trace(), name


def test_a_meeting_scheduled_by_any_path(world, hooks, on_page, erp):
    day = _meeting_day()
    attendees = [world.account_manager, world.ems_admin]
    api = erp(world.buyer)
    created = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:meetings", args=[world.ours.pk]), meeting_form(day, attendees)
            )
        ),
        "API POST": lambda: post_json(
            api, "/api/v1/meetings/", {**meeting_json(day, attendees), "partnership": world.ours.pk}
        ),
        **upsert_paths(api, "meetings", world.ours, "CRM-M2", meeting_json(day, attendees)),
    }
    traces = {name: run_path(path) for name, path in created.items()}
    # The page and the plain POST set no external id; the upserts do: compare apart.
    assert_same({k: traces[k] for k in ("page", "API POST")})
    assert_same({k: traces[k] for k in ("upsert by external id", "bulk upsert")})
    for trace in traces.values():
        assert {w[1:3] for w in trace.webhooks} == {("meeting.changed", "created")}
        assert trace.history[0][0] == "meeting"
    assert traces["bulk upsert"].webhooks[0][5] == "CRM-M2"


# --- action items ------------------------------------------------------------------------------


@pytest.fixture
def review(world):
    """A meeting the action items come from."""
    start = dt.datetime.combine(_meeting_day(), dt.time(9, 0), BERLIN)
    return comms.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Quality review Q3",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        attendees=[world.account_manager],
    )


def test_an_action_item_created_by_any_path(world, hooks, on_page, erp, review):
    due = (timezone.localdate() + dt.timedelta(days=10)).isoformat()
    fields = {"title": "Send the 8D report", "due_date": due}
    api = erp(world.buyer)
    created = {
        # An action is added on its meeting's page (or a problem's), with the owner typed.
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:meeting", args=[world.ours.pk, review.pk]),
                {**fields, "owner": world.account_manager.email, "what": "action"},
            )
        ),
        "API POST": lambda: post_json(
            api,
            "/api/v1/action-items/",
            {
                **fields,
                "owner": world.account_manager.pk,
                "meeting": review.pk,
                "partnership": world.ours.pk,
            },
        ),
        **upsert_paths(
            api,
            "action-items",
            world.ours,
            "CRM-A1",
            {**fields, "owner": world.account_manager.pk, "meeting": review.pk},
        ),
    }
    traces = {name: run_path(path) for name, path in created.items()}
    assert_same({k: traces[k] for k in ("page", "API POST")})
    assert_same({k: traces[k] for k in ("upsert by external id", "bulk upsert")})
    for trace in traces.values():
        assert {w[1:3] for w in trace.webhooks} == {("action_item.changed", "created")}
        # The new owner is told, and only they.
        assert [n[:2] for n in trace.notifications] == [
            (world.account_manager.email, f"New action for you: Send the 8D report (due {due})")
        ]


def test_an_action_item_done_and_reassigned_by_any_path(world, hooks, on_page, erp, review):
    item = comms.add_action_item(
        by=world.buyer,
        partnership=world.ours,
        meeting=review,
        title="Send the 8D report",
        owner=world.account_manager,
        due_date=timezone.localdate() + dt.timedelta(days=10),
        external_id="CRM-A1",
    )
    api = erp(world.buyer)
    # Its status: the actions page, PATCH (the API's one change of an action; no PUT) and the
    # upserts.
    url = f"/api/v1/action-items/{item.pk}/"
    assert api.put(url, {}, content_type="application/json").status_code == 405
    done = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:actions", args=[world.ours.pk]), {"item": item.pk, "status": "done"}
            )
        ),
        "API PATCH": lambda: patch(api, url, {"status": "done"}),
        **upsert_paths(api, "action-items", world.ours, "CRM-A1", {"status": "done"}),
    }
    traces = {name: run_path(path) for name, path in done.items()}
    assert_same(traces)
    assert {w[1:4] for w in traces["page"].webhooks} == {
        ("action_item.changed", "done", ("status",))
    }

    # Its owner and due date: no page edits an action and PATCH only sets its status, so only
    # an ERP resending it does (the two upserts, and the service they share).
    due = (timezone.localdate() + dt.timedelta(days=14)).isoformat()
    change = {"owner": world.ems_admin.pk, "due_date": due}
    traces = {
        name: run_path(path)
        for name, path in upsert_paths(api, "action-items", world.ours, "CRM-A1", change).items()
    }
    assert_same(traces)
    trace = traces["bulk upsert"]
    assert {w[1:4] for w in trace.webhooks} == {
        ("action_item.changed", "changed", ("due_date", "owner"))
    }
    assert [n[:2] for n in trace.notifications] == [
        (world.ems_admin.email, f"New action for you: Send the 8D report (due {due})")
    ]


# --- problems ----------------------------------------------------------------------------------

PROBLEM = {
    "title": "Voids under QFN pads",
    "severity": "high",
    "description": "X-ray shows 35 % voiding on U7",
}


def test_a_problem_raised_by_any_path(world, hooks, on_page, erp):
    api = erp(world.buyer)
    raised = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:problems", args=[world.ours.pk]),
                {
                    **PROBLEM,
                    "owner": world.account_manager.email,
                    "product": "",
                    "production_run": "",
                    "audit": "",
                    "decision_request": "",
                },
            )
        ),
        "API POST": lambda: post_json(
            api,
            "/api/v1/problems/",
            {**PROBLEM, "owner": world.account_manager.pk, "partnership": world.ours.pk},
        ),
        **upsert_paths(
            api, "problems", world.ours, "QMS-P1", {**PROBLEM, "owner": world.account_manager.pk}
        ),
    }
    traces = {name: run_path(path) for name, path in raised.items()}
    assert_same({k: traces[k] for k in ("page", "API POST")})
    assert_same({k: traces[k] for k in ("upsert by external id", "bulk upsert")})
    for trace in traces.values():
        assert {w[1:3] for w in trace.webhooks} == {("problem.changed", "created")}
        # The EMS's key people and the owner are told.
        told = {n[0] for n in trace.notifications}
        assert world.account_manager.email in told and world.buyer.email not in told
        assert {n[1] for n in trace.notifications} == {
            "New problem P-0001 Voids under QFN pads (High)"
        }


def test_a_problem_resolved_and_changed_by_any_path(world, hooks, on_page, erp):
    problem = comms.raise_problem(
        by=world.buyer,
        partnership=world.ours,
        owner=world.account_manager,
        external_id="QMS-P1",
        **PROBLEM,
    )
    api = erp(world.buyer)
    # A problem moves through its statuses: the page's status form, the API's status action
    # and the upserts (a problem has no PUT or PATCH).
    url = f"/api/v1/problems/{problem.pk}/"
    assert api.put(url, {}, content_type="application/json").status_code == 405
    assert api.patch(url, {}, content_type="application/json").status_code == 405
    move = {"status": "resolved", "resolution": "Stencil apertures reduced to 60 %"}
    resolved = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:problem", args=[world.ours.pk, problem.pk]),
                {**move, "what": "status"},
            )
        ),
        "API status": lambda: post_json(api, f"{url}status/", move),
        **upsert_paths(api, "problems", world.ours, "QMS-P1", move),
    }
    traces = {name: run_path(path) for name, path in resolved.items()}
    assert_same(traces)
    trace = traces["page"]
    assert {w[1:4] for w in trace.webhooks} == {
        ("problem.changed", "resolved", ("resolution", "status"))
    }
    # Its owner and who raised it are told.
    assert sorted(n[:2] for n in trace.notifications) == sorted(
        (email, "P-0001 Voids under QFN pads is now resolved")
        for email in (world.account_manager.email, world.buyer.email)
    )

    # Its text, severity and owner: no page edits a problem, so the upserts (a QMS resending
    # it) and the service they share.
    change = {"severity": "critical", "owner": world.ems_admin.pk}
    traces = {
        name: run_path(path)
        for name, path in upsert_paths(api, "problems", world.ours, "QMS-P1", change).items()
    }
    assert_same(traces)
    assert {w[1:4] for w in traces["bulk upsert"].webhooks} == {
        ("problem.changed", "changed", ("owner", "severity"))
    }


# --- goals -------------------------------------------------------------------------------------

GOAL = {
    "title": "On-time delivery 97 %",
    "horizon": "short",
    "metric": "OTD",
    "unit": "%",
    "baseline": "90.00",
    "target": "97.00",
}


def test_a_goal_set_by_any_path(world, hooks, on_page, erp):
    fields = {
        **GOAL,
        "current": "91.50",
        "due_date": (timezone.localdate() + dt.timedelta(days=180)).isoformat(),
    }
    api = erp(world.buyer)
    created = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:goals", args=[world.ours.pk]),
                {**fields, "owner": world.account_manager.email},
            )
        ),
        "API POST": lambda: post_json(
            api,
            "/api/v1/goals/",
            {**fields, "owner": world.account_manager.pk, "partnership": world.ours.pk},
        ),
        **upsert_paths(
            api, "goals", world.ours, "BSC-G1", {**fields, "owner": world.account_manager.pk}
        ),
    }
    traces = {name: run_path(path) for name, path in created.items()}
    assert_same({k: traces[k] for k in ("page", "API POST")})
    assert_same({k: traces[k] for k in ("upsert by external id", "bulk upsert")})
    for trace in traces.values():
        assert {w[1:3] for w in trace.webhooks} == {("goal.changed", "created")}
        assert [(key, v["current"]) for key, v in trace.history] == [("goal", Decimal("91.50"))]


@pytest.fixture
def goal(world):
    return comms.save_goal(
        by=world.buyer,
        partnership=world.ours,
        owner=world.account_manager,
        due_date=timezone.localdate() + dt.timedelta(days=180),
        external_id="BSC-G1",
        **{**GOAL, "baseline": Decimal("90"), "target": Decimal("97")},
    )


def test_a_goal_changed_by_any_path(world, hooks, erp, goal):
    api = erp(world.buyer)
    url = f"/api/v1/goals/{goal.pk}/"
    # No page edits a goal (the goals page sets new ones and records progress) and the API has
    # no PUT for it: PATCH and the upserts.
    assert api.put(url, {}, content_type="application/json").status_code == 405
    change = {"target": "98.50", "title": "On-time delivery 98.5 %"}
    paths = {
        "API PATCH": lambda: patch(api, url, change),
        **upsert_paths(api, "goals", world.ours, "BSC-G1", change),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    assert {w[1:4] for w in traces["API PATCH"].webhooks} == {
        ("goal.changed", "changed", ("target", "title"))
    }


def test_a_goals_progress_recorded_by_any_path(world, hooks, on_page, erp, goal):
    """Today's value: the goals page's "record" form, the API's measurements, and a new current
    value through PATCH and the upserts (recorded as today's measurement)."""
    api = erp(world.buyer)
    url = f"/api/v1/goals/{goal.pk}/"
    paths = {
        "page": lambda: ok(
            on_page(world.buyer).post(
                reverse("comms:goals", args=[world.ours.pk]),
                {"what": "measure", "goal": goal.pk, "value": "93.5"},
            )
        ),
        "API measurement": lambda: post_json(api, f"{url}measurements/", {"value": "93.50"}),
        "API PATCH": lambda: patch(api, url, {"current": "93.50"}),
        **upsert_paths(api, "goals", world.ours, "BSC-G1", {"current": "93.50"}),
    }
    traces = {name: run_path(path) for name, path in paths.items()}
    assert_same(traces)
    assert {w[1:4] for w in traces["page"].webhooks} == {("goal.changed", "measured", ("current",))}
