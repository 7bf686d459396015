"""Audit trail: who changed what and when, shown to both partners, exported, never editable."""

import csv
import datetime as dt
import io
import zoneinfo

import pytest
from django.urls import reverse
from django.utils import formats, timezone
from openpyxl import load_workbook

from audits import services as audits
from audits.models import AuditTemplate
from audits.template_data import ensure_installed
from comms import services as comms
from contracts import services as contracts
from contracts.models import DecisionRule
from partnership.history import is_hidden, kinds
from partnership.history_views import _cell
from schedules import services as schedules
from schedules.models import CapacityPlan
from schedules.services import monday

pytestmark = pytest.mark.django_db

START = monday(dt.date(2030, 3, 4))


def short(day):
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def history_url(partnership, kind, pk):
    return reverse("object_history", args=[partnership.pk, kind, pk])


@pytest.fixture
def run(world):
    product = schedules.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", revision="C", name="Board"
    )
    return schedules.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=500,
        planned_launch=START,
        due_date=START + dt.timedelta(days=4),
    )


@pytest.fixture
def foreign_run(world):
    product = schedules.save_product(
        by=world.outsider, partnership=world.theirs, part_number="SECRET-1", name="Secret"
    )
    return schedules.save_run(
        by=world.outsider,
        partnership=world.theirs,
        product=product,
        quantity=10,
        planned_launch=START,
        due_date=START + dt.timedelta(days=2),
    )


def move_dates(client, world, run, launch, due):
    """The EMS proposes new dates on the run page; the OEM buyer accepts them."""
    url = run.get_absolute_url()
    client.force_login(world.account_manager)
    assert client.post(url, {"what": "propose", "launch": launch, "due": due}).status_code == 302
    client.force_login(world.buyer)
    assert client.post(url, {"what": "accept-dates"}).status_code == 302


def test_both_partners_see_who_moved_the_run_and_from_what_to_what(world, client, run):
    old_due = run.due_date
    move_dates(client, world, run, "2030-03-11", "2030-03-20")
    run.refresh_from_db()
    assert run.due_date == dt.date(2030, 3, 20)
    for viewer in (world.oem_viewer, world.ems_admin):
        client.force_login(viewer)
        response = client.get(history_url(world.ours, "run", run.pk))
        assert response.status_code == 200
        rows = response.context["rows"]
        accepted, proposed = rows[0], rows[1]
        assert (accepted.who, accepted.organisation) == (str(world.buyer), world.oem.name)
        due = next(c for c in accepted.changes if c.field == "due_date")
        assert (due.label, due.before, due.after) == (
            "Due date",
            short(old_due),
            short(dt.date(2030, 3, 20)),
        )
        assert (proposed.who, proposed.organisation) == (str(world.account_manager), world.ems.name)
        changed = {c.field: (c.before, c.after) for c in proposed.changes}
        assert changed["proposed_due"] == ("", short(dt.date(2030, 3, 20)))
        assert changed["status"] == ("Planned", "Dates proposed by the EMS") or "status" in changed
        assert rows[-1].action == "created"
        page = response.content.decode()
        assert str(world.account_manager) in page and world.ems.name in page
        # The run's own page shows the same latest changes.
        run_page = client.get(run.get_absolute_url()).content.decode()
        assert 'id="history"' in run_page and str(world.account_manager) in run_page
        assert history_url(world.ours, "run", run.pk) in run_page


def test_the_object_history_exports_as_csv_and_xlsx(world, client, run):
    move_dates(client, world, run, "2030-03-11", "2030-03-20")
    client.force_login(world.ems_admin)
    base = history_url(world.ours, "run", run.pk)
    response = client.get(base + "export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert f'filename="history-run-{run.pk}.csv"' in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    due = [r for r in lines if r["field"] == "Due date" and r["action"] == "changed"]
    assert len(due) == 1
    assert due[0]["who"] == str(world.buyer) and due[0]["organisation"] == world.oem.name
    assert (due[0]["before"], due[0]["after"]) == (
        short(START + dt.timedelta(days=4)),
        short(dt.date(2030, 3, 20)),
    )
    assert any(r["who"] == str(world.account_manager) for r in lines)
    response = client.get(base + "export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:4] == ("when", "who", "organisation", "action")
    as_dicts = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    due = [r for r in as_dicts if r["field"] == "Due date"]
    assert due[0]["after"] == short(dt.date(2030, 3, 20)) and due[0]["object id"] == run.pk
    assert isinstance(due[0]["when"], dt.datetime)
    assert client.get(base + "export.pdf").status_code == 404


def test_exports_never_contain_a_spreadsheet_formula(world, client):
    product = schedules.save_product(
        by=world.buyer, partnership=world.ours, part_number="=1+2", name="@SUM(A1)"
    )
    client.force_login(world.buyer)
    response = client.get(history_url(world.ours, "product", product.pk) + "export.csv")
    values = [v for line in csv.reader(io.StringIO(response.content.decode())) for v in line]
    assert "'=1+2" in values and "'@SUM(A1)" in values
    assert not any(v.startswith(("=", "@")) for v in values)
    response = client.get(history_url(world.ours, "product", product.pk) + "export.xlsx")
    cells = [
        c
        for row in load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True)
        for c in row
    ]
    assert "'=1+2" in cells and not any(isinstance(c, str) and c.startswith("=") for c in cells)
    assert (_cell("-5.50"), _cell("-2+3"), _cell("+48 22 1234")) == (
        "-5.50",
        "'-2+3",
        "'+48 22 1234",
    )


def build_everything(world):
    """Every kind of business object of world.ours, made through the services."""
    ensure_installed()
    contract = contracts.create_draft(by=world.buyer, partnership=world.ours)
    contracts.update_terms(by=world.buyer, contract=contract, effective_from=dt.date(2026, 1, 1))
    contracts.propose(by=world.buyer, contract=contract)
    contracts.sign(by=world.buyer, contract=contract)
    contracts.sign(by=world.account_manager, contract=contract)
    decision = contracts.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Swap C12 capacitor",
        category="component_substitution",
    )
    product = schedules.save_product(
        by=world.buyer, partnership=world.ours, part_number="MB-200", name="Board"
    )
    run = schedules.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=100,
        planned_launch=START,
        due_date=START + dt.timedelta(days=4),
    )
    schedules.publish_capacity(
        by=world.account_manager, partnership=world.ours, rows=[{"week": START, "amount": 900}]
    )
    audit = audits.plan_audit(
        by=world.buyer,
        partnership=world.ours,
        template=AuditTemplate.objects.get(key="process-audit", version=1),
        kind="process",
        title="Process audit SMT 2",
        planned_date=dt.date.today(),
    )
    audits.start_audit(by=world.buyer, audit=audit)
    finding = audits.raise_finding(
        by=world.buyer, audit=audit, classification="major", description="No ESD control"
    )
    action = audits.start_action(
        by=world.account_manager,
        finding=finding,
        owner=world.account_manager,
        due_date=dt.date.today() + dt.timedelta(days=14),
    )
    certificate = audits.save_certificate(
        by=world.ems_admin,
        organization=world.ems,
        standard="iso9001",
        number="Q-123",
        issuer="TÜV",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2028, 1, 1),
    )
    profile = audits.save_profile(by=world.ems_admin, organization=world.ems, smt_lines=4)
    start = dt.datetime(2030, 3, 5, 9, tzinfo=dt.UTC)
    meeting = comms.schedule_meeting(
        by=world.buyer,
        partnership=world.ours,
        title="Quality review",
        kind="quality",
        start=start,
        end=start + dt.timedelta(hours=1),
        time_zone="Europe/Berlin",
        conference_url="https://meet.example.com/q",
        attendees=[world.account_manager],
    )
    minutes = comms.save_minutes(by=world.buyer, meeting=meeting, notes="Agreed", decisions="Go")
    problem = comms.raise_problem(
        by=world.account_manager,
        partnership=world.ours,
        title="Solder voids",
        description="X-ray shows voids",
        severity="high",
    )
    item = comms.add_action_item(
        by=world.buyer,
        partnership=world.ours,
        title="Send X-ray images",
        owner=world.account_manager,
        due_date=dt.date(2030, 3, 8),
        problem=problem,
    )
    goal = comms.save_goal(
        by=world.buyer,
        partnership=world.ours,
        horizon="short",
        title="OTD 98 %",
        metric="on-time delivery",
        baseline=90,
        target=98,
        due_date=dt.date(2030, 12, 31),
        owner=world.buyer,
    )
    p = world.ours.pk
    return {
        # kind: (object, the page that shows its history)
        "contract": (contract, reverse("contracts:detail", args=[p, contract.pk])),
        "matrix-item": (contract.matrix.first(), None),
        "decision": (decision, reverse("contracts:decision_detail", args=[p, decision.pk])),
        "product": (product, product.get_absolute_url()),
        "readiness-item": (product.readiness.first(), None),
        "run": (run, run.get_absolute_url()),
        "capacity": (CapacityPlan.objects.get(partnership=world.ours), None),
        "audit": (audit, reverse("audits:audit", args=[p, audit.pk])),
        "finding": (finding, reverse("audits:finding", args=[p, finding.pk])),
        "corrective-action": (action, None),
        "certificate": (certificate, None),
        "supplier-profile": (profile, None),
        "meeting": (meeting, reverse("comms:meeting", args=[p, meeting.pk])),
        "minutes": (minutes, None),
        "problem": (problem, reverse("comms:problem", args=[p, problem.pk])),
        "action-item": (item, None),
        "goal": (goal, None),
    }


def test_every_business_object_shows_its_history_to_both_partners_only(world, client, foreign_run):
    objects = build_everything(world)
    # Pages listing changes of many objects of a kind.
    trail_pages = {
        "capacity": reverse("schedules:capacity", args=[world.ours.pk]),
        "certificate": reverse("audits:scorecard", args=[world.ours.pk]),
        "supplier-profile": reverse("audits:scorecard", args=[world.ours.pk]),
        "action-item": reverse("comms:actions", args=[world.ours.pk]),
        "goal": reverse("comms:goals", args=[world.ours.pk]),
    }
    for viewer in (world.oem_viewer, world.ems_admin):
        client.force_login(viewer)
        for kind, (obj, page) in objects.items():
            url = history_url(world.ours, kind, obj.pk)
            response = client.get(url)
            assert response.status_code == 200, (kind, response.status_code)
            assert response.context["rows"] or kind == "matrix-item", kind
            if page:
                html = client.get(page).content.decode()
                assert 'id="history"' in html and url in html, kind
            if kind in trail_pages:
                html = client.get(trail_pages[kind]).content.decode()
                assert 'id="history"' in html and url in html, kind
            for fmt in ("csv", "xlsx"):
                assert client.get(f"{url}export.{fmt}").status_code == 200
    client.force_login(world.outsider)
    for kind, (obj, _page) in objects.items():
        url = history_url(world.ours, kind, obj.pk)
        assert client.get(url).status_code == 404, kind
        assert client.get(url + "export.csv").status_code == 404, kind
        # …and not under their own partnership's id either.
        assert client.get(history_url(world.theirs, kind, obj.pk)).status_code == 404, kind
    client.force_login(world.buyer)
    for url in (
        history_url(world.ours, "run", foreign_run.pk),
        history_url(world.ours, "product", foreign_run.product_id),
        history_url(world.ours, "run", foreign_run.pk) + "export.xlsx",
        history_url(world.theirs, "run", foreign_run.pk),
        history_url(world.ours, "user", world.buyer.pk),  # not a business object
        history_url(world.ours, "membership", 1),
        history_url(world.ours, "run", 999999),
        reverse("audit_trail", args=[world.theirs.pk]),
        reverse("audit_trail_export", args=[world.theirs.pk, "csv"]),
    ):
        assert client.get(url).status_code == 404, url
    client.logout()
    run = objects["run"][0]
    assert client.get(history_url(world.ours, "run", run.pk)).status_code == 302


def test_the_contract_page_shows_changes_of_its_rules_also_after_a_deletion(world, client):
    contract = contracts.create_draft(by=world.buyer, partnership=world.ours)
    rule = contract.rules.first()
    client.force_login(world.buyer)
    rule_url = reverse("contracts:rule_edit", args=[world.ours.pk, contract.pk, rule.pk])
    response = client.post(
        reverse("contracts:rule_delete", args=[world.ours.pk, contract.pk, rule.pk])
    )
    assert response.status_code == 302 and not DecisionRule.objects.filter(pk=rule.pk).exists()
    client.force_login(world.account_manager)
    page = client.get(reverse("contracts:detail", args=[world.ours.pk, contract.pk]))
    html = page.content.decode()
    assert history_url(world.ours, "rule", rule.pk) in html, rule_url
    response = client.get(history_url(world.ours, "rule", rule.pk))
    assert response.status_code == 200 and response.context["deleted"]
    assert response.context["rows"][0].action == "deleted"
    assert response.context["rows"][0].who == str(world.buyer)


def test_the_audit_trail_filters_pages_and_exports_what_is_filtered(world, client, run):
    move_dates(client, world, run, "2030-03-11", "2030-03-20")
    audits.save_certificate(
        by=world.ems_admin,
        organization=world.ems,
        standard="iso9001",
        number="Q-123",
        issuer="TÜV",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2028, 1, 1),
    )
    audits.save_certificate(
        by=world.outsider,
        organization=world.other_oem,
        standard="iso9001",
        number="FOREIGN-9",
        issuer="DNV",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2028, 1, 1),
    )
    url = reverse("audit_trail", args=[world.ours.pk])
    client.force_login(world.oem_viewer)
    everything = client.get(url)
    assert everything.status_code == 200
    kinds_seen = {r.kind_key for r in everything.context["rows"]}
    assert {"run", "product", "certificate"} <= kinds_seen
    assert "FOREIGN-9" not in everything.content.decode()
    only_ems = client.get(url, {"user": world.account_manager.pk}).context["rows"]
    assert only_ems and {r.who for r in only_ems} == {str(world.account_manager)}
    only_runs = client.get(url, {"kind": "run"}).context["rows"]
    assert len(only_runs) == 3 and {r.kind_key for r in only_runs} == {"run"}
    # Dates are the viewer's: their organisation's zone (not the machine's, which is behind
    # Berlin late in the evening).
    today = timezone.localdate(timezone=zoneinfo.ZoneInfo(world.oem.time_zone))
    assert client.get(url, {"date_from": today, "date_to": today}).context["rows"]
    assert not client.get(url, {"date_to": today - dt.timedelta(days=1)}).context["rows"]
    # Bad input: a clear error, never a 500.
    for bad in (
        {"date_from": "31/31/2024"},
        {"date_from": today, "date_to": today - dt.timedelta(days=3)},
        {"kind": "user"},
        {"user": world.outsider.pk},
        {"user": "abc"},
    ):
        response = client.get(url, bad)
        assert response.status_code == 400, bad
        assert response.context["form"].errors, bad
        assert (
            client.get(reverse("audit_trail_export", args=[world.ours.pk, "csv"]), bad).status_code
            == 400
        )
    assert client.get(url, {"page": "999"}).status_code == 200
    assert client.get(url, {"page": "x"}).status_code == 200
    export = client.get(reverse("audit_trail_export", args=[world.ours.pk, "csv"]), {"kind": "run"})
    lines = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert lines and {r["object type"] for r in lines} == {"run"}
    assert any(r["field"] == "Due date" and r["who"] == str(world.buyer) for r in lines)
    xlsx = client.get(
        reverse("audit_trail_export", args=[world.ours.pk, "xlsx"]),
        {"user": world.account_manager.pk},
    )
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert len(rows) > 1 and {r[1] for r in rows[1:]} == {str(world.account_manager)}


def test_the_audit_trail_pages_in_sql(world, client, run, monkeypatch):
    monkeypatch.setattr("partnership.history_views.PAGE_SIZE", 2)
    move_dates(client, world, run, "2030-03-11", "2030-03-20")  # + product, run: 4 changes
    url = reverse("audit_trail", args=[world.ours.pk])
    client.force_login(world.buyer)
    first = client.get(url, {"kind": "run"})
    assert first.context["page_obj"].paginator.num_pages == 2
    second = client.get(url, {"kind": "run", "page": 2})
    ids = [r.history_id for r in first.context["rows"] + second.context["rows"]]
    assert len(ids) == len(set(ids)) == 3
    assert "kind=run&amp;page=2" in first.content.decode()


def change_run_many_times(world, run, times):
    for n in range(times):
        schedules.propose_dates(
            by=world.account_manager,
            run=run,
            launch=START + dt.timedelta(days=7 * (n % 3)),
            due=START + dt.timedelta(days=7 * (n % 3) + 4 + n),
        )
        schedules.answer_proposed_dates(by=world.buyer, run=run, accept=True)


def test_history_pages_cost_the_same_queries_for_3_and_30_changes(
    world, client, run, django_assert_max_num_queries
):
    client.force_login(world.account_manager)
    pages = [
        history_url(world.ours, "run", run.pk),
        history_url(world.ours, "run", run.pk) + "export.csv",
        history_url(world.ours, "product", run.product_id) + "export.xlsx",
        run.get_absolute_url(),
        reverse("audit_trail", args=[world.ours.pk]),
        reverse("audit_trail_export", args=[world.ours.pk, "csv"]),
        reverse("partnership-history", args=[world.ours.pk]),
    ]
    change_run_many_times(world, run, 1)
    counts = {}
    for url in pages:
        with django_assert_max_num_queries(40) as few:
            assert client.get(url).status_code == 200
        counts[url] = len(few.captured_queries)
    change_run_many_times(world, run, 10)
    for url in pages:
        with django_assert_max_num_queries(counts[url]):
            client.get(url)


def test_secrets_and_bookkeeping_are_never_shown():
    for name in ("password", "key_hash", "token", "secret", "webhook_secret", "updated_at"):
        assert is_hidden(name)
    for name in ("due_date", "status", "title"):
        assert not is_hidden(name)
    registry = kinds()
    assert not {"user", "api-token", "membership", "invitation"} & set(registry)
    for kind in registry.values():
        names = {f.name for f in kind.history_model.tracked_fields}
        assert not {"password", "key_hash"} & names, kind.key


def test_capacity_uploads_record_who_changed_which_week(world, client):
    url = reverse("schedules:capacity", args=[world.ours.pk])
    client.force_login(world.account_manager)
    for amount in ("900", "900", "750"):  # the second upload changes nothing
        upload = io.BytesIO(f"week,amount\n{START.isoformat()},{amount}\n".encode())
        upload.name = "capacity.csv"
        assert client.post(url, {"what": "capacity", "file": upload}).status_code == 302
    plan = CapacityPlan.objects.get(partnership=world.ours)
    client.force_login(world.buyer)
    rows = client.get(history_url(world.ours, "capacity", plan.pk)).context["rows"]
    assert [r.action for r in rows] == ["changed", "created"]
    amount = next(c for c in rows[0].changes if c.field == "amount")
    assert (amount.before, amount.after, rows[0].who) == (
        "900.00",
        "750.00",
        str(world.account_manager),
    )
    assert history_url(world.ours, "capacity", plan.pk) in client.get(url).content.decode()


def test_the_admin_shows_history_but_never_reverts_it(world, client):
    from partnership.models import User

    admin = User.objects.create_superuser(email="root@portal.example", password="x")
    client.force_login(world.ems_admin)
    client.post(
        reverse("partnership_edit", args=[world.ours.pk]),
        {"status": "suspended", "description": "Boards"},
    )
    world.ours.refresh_from_db()
    assert world.ours.status == "suspended"
    first = world.ours.history.order_by("history_date").first()
    client.force_login(admin)
    listing = client.get(reverse("admin:partnership_partnership_history", args=[world.ours.pk]))
    assert listing.status_code == 200
    version = reverse(
        "admin:partnership_partnership_simple_history", args=[world.ours.pk, first.history_id]
    )
    page = client.get(version)
    assert page.status_code == 200 and "Revert" not in page.content.decode()
    response = client.post(
        version,
        {"oem": world.oem.pk, "ems": world.ems.pk, "status": "ended", "description": "rewritten"},
    )
    assert response.status_code == 403
    world.ours.refresh_from_db()
    assert world.ours.status == "suspended" and world.ours.description == "Boards"
