"""Contract and decision pages: isolation, roles, htmx matrix editing, forms and query counts."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contracts import services
from contracts.models import Contract, DecisionRequest, ResponsibilityItem
from partnership.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs_contract(world):
    """An active contract with a decision request in the partnership the test users must not see."""
    admin = member(world.other_ems, Role.ACCOUNT_MANAGER, email="am@elsewhere.example")
    c = services.create_draft(by=world.outsider, partnership=world.theirs)
    services.update_terms(by=world.outsider, contract=c, effective_from="2026-01-01")
    services.propose(by=world.outsider, contract=c)
    services.sign(by=world.outsider, contract=c)
    services.sign(by=admin, contract=c)
    d = services.raise_decision_request(
        by=admin, partnership=world.theirs, title="Secret", category="deviation"
    )
    return c, d


def contract_urls(p, c, d, item, rule):
    a = [p.pk, c.pk]
    return [
        ("get", reverse("contracts:list", args=[p.pk])),
        ("post", reverse("contracts:create", args=[p.pk])),
        ("get", reverse("contracts:detail", args=a)),
        ("get", reverse("contracts:terms", args=a)),
        ("post", reverse("contracts:terms", args=a)),
        ("get", reverse("contracts:flex", args=a)),
        ("post", reverse("contracts:matrix", args=a)),
        ("get", reverse("contracts:matrix_row", args=[*a, item.pk])),
        ("post", reverse("contracts:matrix_row", args=[*a, item.pk])),
        ("get", reverse("contracts:matrix_csv", args=a)),
        ("get", reverse("contracts:matrix_import", args=a)),
        ("get", reverse("contracts:rule_create", args=a)),
        ("get", reverse("contracts:rule_edit", args=[*a, rule.pk])),
        ("post", reverse("contracts:rule_delete", args=[*a, rule.pk])),
        ("get", reverse("contracts:tester", args=a) + "?category=deviation"),
        ("post", reverse("contracts:action", args=[*a, "sign"])),
        ("post", reverse("contracts:action", args=[*a, "propose"])),
        ("get", reverse("contracts:compare", args=[*a, c.pk])),
        ("get", reverse("contracts:pdf", args=a)),
        ("get", reverse("contracts:decisions", args=[p.pk])),
        ("get", reverse("contracts:decision_create", args=[p.pk])),
        ("post", reverse("contracts:decision_create", args=[p.pk])),
        ("get", reverse("contracts:decision_detail", args=[p.pk, d.pk])),
        ("post", reverse("contracts:decision_detail", args=[p.pk, d.pk])),
    ]


@pytest.mark.parametrize("username", ["buyer", "oem_viewer", "account_manager", "ems_admin"])
def test_every_contract_page_of_another_partnership_answers_404(
    world, client, theirs_contract, username
):
    c, d = theirs_contract
    client.force_login(getattr(world, username))
    for method, url in contract_urls(world.theirs, c, d, c.matrix.first(), c.rules.first()):
        response = getattr(client, method)(
            url, {"what": "answer", "action": "approve", "title": "x"}
        )
        assert response.status_code == 404, (method, url, response.status_code)
    d.refresh_from_db()
    assert d.status == DecisionRequest.Status.AWAITING_OEM


def test_foreign_ids_under_our_own_partnership_answer_404(
    world, client, active_contract, theirs_contract
):
    """Our partnership id with their contract/decision id must not work either."""
    c, d = theirs_contract
    client.force_login(world.buyer)
    for method, url in contract_urls(world.ours, c, d, c.matrix.first(), c.rules.first())[2:]:
        if "/contracts/" not in url and "/decisions/" not in url:
            continue
        if url.endswith(("/decisions/", "/decisions/new/")):
            continue  # those are our own lists
        assert getattr(client, method)(url).status_code == 404, url


def test_inbox_lists_only_our_requests(world, client, active_contract, theirs_contract):
    services.raise_decision_request(
        by=world.account_manager, partnership=world.ours, title="Ours", category="deviation"
    )
    client.force_login(world.buyer)
    page = client.get(reverse("contracts:inbox")).content.decode()
    assert "Ours" in page and "Secret" not in page


def test_draft_lifecycle_through_the_pages(world, client):
    client.force_login(world.buyer)
    response = client.post(reverse("contracts:create", args=[world.ours.pk]))
    contract = Contract.objects.get(partnership=world.ours)
    assert response["Location"] == contract.get_absolute_url()
    page = client.get(contract.get_absolute_url()).content.decode()
    assert "Set the date the contract takes effect" in page
    terms = reverse("contracts:terms", args=[world.ours.pk, contract.pk])
    bad = client.post(
        terms,
        {
            "title": "",
            "effective_from": "2026-05-01",
            "effective_until": "2026-01-01",
            "currency": "EUR",
            "frozen_zone_weeks": 99,
            "default_decision_mode": "x",
            "default_response_hours": 0,
        },
    )
    assert bad.status_code == 400
    assert {
        "title",
        "frozen_zone_weeks",
        "default_decision_mode",
        "default_response_hours",
        "effective_until",
    } <= set(bad.context["form"].errors)
    ok = client.post(
        terms,
        {
            "title": "MSA",
            "effective_from": "2026-05-01",
            "currency": "EUR",
            "frozen_zone_weeks": 4,
            "default_decision_mode": "consult_oem",
            "default_response_hours": 48,
            "capacity_warning_pct": 90,
            "capacity_critical_pct": 100,
        },
    )
    assert ok.status_code == 302
    client.post(reverse("contracts:action", args=[world.ours.pk, contract.pk, "propose"]))
    client.post(reverse("contracts:action", args=[world.ours.pk, contract.pk, "sign"]))
    client.force_login(world.account_manager)
    client.post(reverse("contracts:action", args=[world.ours.pk, contract.pk, "sign"]))
    contract.refresh_from_db()
    assert contract.status == Contract.Status.ACTIVE
    assert contract.oem_signed_by == world.buyer and contract.ems_signed_by == world.account_manager


def test_the_non_drafting_side_and_viewers_cannot_edit_a_draft(world, client, draft):
    for user in (world.account_manager, world.oem_viewer):
        client.force_login(user)
        assert (
            client.get(reverse("contracts:terms", args=[world.ours.pk, draft.pk])).status_code
            == 403
        )
        response = client.post(
            reverse("contracts:matrix", args=[world.ours.pk, draft.pk]),
            {"area": "X", "activity": "Y", "oem": "A", "ems": "R"},
        )
        assert response.status_code == 403
    assert not draft.matrix.filter(area="X").exists()


def test_htmx_matrix_row_edit_add_and_delete(world, client, draft):
    client.force_login(world.buyer)
    item = draft.matrix.first()
    url = reverse("contracts:matrix_row", args=[world.ours.pk, draft.pk, item.pk])
    htmx = {"HTTP_HX_REQUEST": "true"}
    form = client.get(url + "?edit=1", **htmx)
    assert b"<form" in form.content and b"<html" not in form.content
    bad = client.post(
        url, {"area": item.area, "activity": item.activity, "oem": "A", "ems": "A"}, **htmx
    )
    assert bad.status_code == 422 and b"Exactly one side must be Accountable" in bad.content
    ok = client.post(
        url, {"area": item.area, "activity": item.activity, "oem": "r a", "ems": "c"}, **htmx
    )
    assert ok.status_code == 200 and b'id="matrix-row-' in ok.content
    item.refresh_from_db()
    assert (item.oem, item.ems) == ("RA", "C")

    add = reverse("contracts:matrix", args=[world.ours.pk, draft.pk])
    bad_add = client.post(
        add, {"area": "Logistics", "activity": "Customs", "oem": "Q", "ems": ""}, **htmx
    )
    assert bad_add.status_code == 422 and bad_add["HX-Retarget"] == "#matrix-add"
    assert (
        client.post(
            add, {"area": "Logistics", "activity": "Customs", "oem": "I", "ems": "RA"}, **htmx
        ).status_code
        == 200
    )
    assert draft.matrix.filter(activity="Customs").exists()

    assert client.post(url, {"delete": "1"}, **htmx).status_code == 200
    assert not ResponsibilityItem.objects.filter(pk=item.pk).exists()


def test_csv_export_and_import_through_the_page(world, client, draft):
    client.force_login(world.buyer)
    csv_text = client.get(
        reverse("contracts:matrix_csv", args=[world.ours.pk, draft.pk])
    ).content.decode()
    assert csv_text.splitlines()[0] == "area,activity,oem,ems"
    url = reverse("contracts:matrix_import", args=[world.ours.pk, draft.pk])
    before = draft.matrix.count()
    broken = "area,activity,oem,ems\nQuality,Audits,A,R\nQuality,Broken,A,A\n"
    response = client.post(url, {"file": SimpleUploadedFile("m.csv", broken.encode(), "text/csv")})
    assert response.status_code == 400 and "Row 3" in response.content.decode()
    assert draft.matrix.count() == before
    good = "area,activity,oem,ems\nQuality,Audits,RA,C\nLogistics,Shipping,I,RA\n"
    assert (
        client.post(
            url, {"file": SimpleUploadedFile("m.csv", good.encode(), "text/csv")}
        ).status_code
        == 302
    )
    assert draft.matrix.count() == 2


def test_rule_form_rejects_contradictory_rules_with_a_clear_error(world, client, draft):
    client.force_login(world.buyer)
    url = reverse("contracts:rule_create", args=[world.ours.pk, draft.pk])
    response = client.post(
        url,
        {
            "category": "engineering_change",
            "min_cost_impact": "1000",
            "outcome": "ems_decides",
            "response_hours": 24,
        },
    )
    assert response.status_code == 400
    assert "Conditions can only make a decision stricter" in response.content.decode()
    response = client.post(
        url,
        {
            "category": "engineering_change",
            "min_cost_impact": "-5",
            "outcome": "nope",
            "response_hours": 0,
        },
    )
    assert {"min_cost_impact", "outcome", "response_hours"} <= set(response.context["form"].errors)
    count = draft.rules.count()
    ok = client.post(
        url,
        {
            "category": "engineering_change",
            "if_safety_critical": "on",
            "outcome": "oem_approval",
            "response_hours": 12,
            "clause_ref": "8.2",
        },
    )
    assert ok.status_code == 302 and draft.rules.count() == count + 1


def test_rules_of_an_active_contract_cannot_be_changed(world, client, active_contract):
    client.force_login(world.buyer)
    rule = active_contract.rules.get(clause_ref="9.4")
    response = client.post(
        reverse("contracts:rule_edit", args=[world.ours.pk, active_contract.pk, rule.pk]),
        {"category": rule.category, "outcome": "ems_decides", "response_hours": 1},
    )
    assert response.status_code == 403
    delete = reverse("contracts:rule_delete", args=[world.ours.pk, active_contract.pk, rule.pk])
    client.post(delete)
    rule.refresh_from_db()
    assert (rule.outcome, rule.response_hours) == ("oem_approval", 24)


def test_rule_tester_explains_which_rule_fires(world, client, active_contract):
    client.force_login(world.account_manager)
    url = reverse("contracts:tester", args=[world.ours.pk, active_contract.pk])
    page = client.get(url, {"category": "schedule_change", "delay_days": 12}).content.decode()
    assert "The OEM must approve within 24 h" in page and "4.7" in page
    page = client.get(url, {"category": "schedule_change", "delay_days": 1}).content.decode()
    assert "The EMS decides alone" in page
    response = client.get(url, {"category": "bogus", "delay_days": -1})
    assert response.status_code == 200 and response.context["result"] is None
    assert {"category", "delay_days"} <= set(response.context["form"].errors)


def test_raise_and_answer_a_decision_through_the_pages(
    world, client, active_contract, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(world.account_manager)
    url = reverse("contracts:decision_create", args=[world.ours.pk])
    bad = client.post(url, {"title": "", "category": "deviation", "cost_impact": "-1"})
    assert bad.status_code == 400 and {"title", "cost_impact"} <= set(bad.context["form"].errors)
    bad_file = client.post(
        url,
        {
            "title": "X",
            "category": "deviation",
            "attachments": SimpleUploadedFile("run.exe", b"MZ", "application/octet-stream"),
        },
    )
    assert bad_file.status_code == 400 and "allowed file types" in bad_file.content.decode()
    assert not DecisionRequest.objects.exists()
    response = client.post(
        url,
        {
            "title": "Solder mask colour deviation",
            "category": "deviation",
            "attachments": SimpleUploadedFile("photo.png", b"\x89PNG....", "image/png"),
        },
    )
    decision = DecisionRequest.objects.get()
    assert response["Location"] == decision.get_absolute_url()
    assert decision.mode == "oem_approval" and decision.rule.clause_ref == "9.4"

    # The EMS sees no approve button and cannot approve by posting.
    page = client.get(decision.get_absolute_url()).content.decode()
    assert 'value="approve"' not in page
    assert (
        client.post(
            decision.get_absolute_url(), {"what": "answer", "action": "approve"}
        ).status_code
        == 403
    )

    attachment = decision.attachments.get()
    dl = client.get(
        reverse("contracts:decision_attachment", args=[world.ours.pk, decision.pk, attachment.pk])
    )
    assert dl.status_code == 200 and b"".join(dl.streaming_content).startswith(b"\x89PNG")

    client.force_login(world.buyer)
    missing_reason = client.post(
        decision.get_absolute_url(), {"what": "answer", "action": "reject", "text": ""}
    )
    assert missing_reason.status_code == 400 and "reason" in missing_reason.content.decode()
    client.post(
        decision.get_absolute_url(),
        {"what": "answer", "action": "approve", "text": "OK for this lot"},
    )
    decision.refresh_from_db()
    assert decision.status == "approved" and decision.answered_by == world.buyer
    kinds = [e.kind for e in decision.events.all()]
    assert kinds == ["raised", "routed", "approved"]


def test_oem_cannot_raise_and_viewers_cannot_answer(world, client, active_contract):
    client.force_login(world.buyer)
    assert client.get(reverse("contracts:decision_create", args=[world.ours.pk])).status_code == 403
    d = services.raise_decision_request(
        by=world.account_manager, partnership=world.ours, title="T", category="deviation"
    )
    client.force_login(world.oem_viewer)
    assert (
        client.post(d.get_absolute_url(), {"what": "answer", "action": "approve"}).status_code
        == 403
    )
    d.refresh_from_db()
    assert d.status == "awaiting_oem"


def test_decision_pages_have_bounded_queries(
    world, client, active_contract, django_assert_max_num_queries
):
    client.force_login(world.buyer)
    for n in range(3):
        services.raise_decision_request(
            by=world.account_manager, partnership=world.ours, title=f"R{n}", category="deviation"
        )
    urls = [
        reverse("contracts:decisions", args=[world.ours.pk]),
        reverse("contracts:inbox"),
        active_contract.get_absolute_url(),
    ]
    counts = {}
    for url in urls:
        with django_assert_max_num_queries(25) as ctx:
            client.get(url)
        counts[url] = len(ctx.captured_queries)
    for n in range(20):
        services.raise_decision_request(
            by=world.account_manager, partnership=world.ours, title=f"S{n}", category="deviation"
        )
    for url in urls:
        with django_assert_max_num_queries(counts[url]):
            client.get(url)
