"""Search fields instead of long selects (issue #9): the scoped lookup endpoint, typing a key
without JavaScript, and create pages whose size and queries do not grow with the data."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from comms.models import Problem
from contracts import services as contract_services
from schedules.models import Product, ProductionRun
from tests.contracts.conftest import active_contract, draft  # noqa: F401


def product(world, part_number, partnership=None, revision="A", name="Board"):
    return Product.objects.create(
        partnership=partnership or world.ours,
        part_number=part_number,
        revision=revision,
        name=name,
    )


def run(partnership, product, quantity=100):
    today = dt.date.today()
    return ProductionRun.objects.create(
        partnership=partnership,
        product=product,
        quantity=quantity,
        planned_launch=today,
        due_date=today + dt.timedelta(days=14),
    )


def lookup(client, partnership, kind, text, field="q"):
    url = reverse("lookup", args=[partnership.pk, kind])
    return client.get(url, {"field": field, field: text})


# --- the endpoint ----------------------------------------------------------------------------


def test_lookup_suggests_at_most_twenty_matches_of_the_partnership(world, client):
    for i in range(25):
        product(world, f"MB-{i:03}", name=f"Main board {i}")
    product(world, "PSU-1", name="Power supply")
    product(world, "MB-999", partnership=world.theirs, name="Their main board")
    client.force_login(world.buyer)
    response = lookup(client, world.ours, "products", "mb-", field="product")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count("<option") == 20
    assert '<option value="MB-000 rev A">Main board 0</option>' in body
    assert "PSU-1" not in body and "MB-999" not in body
    assert "Power supply" in lookup(client, world.ours, "products", "power").content.decode()


def test_lookup_never_returns_foreign_objects(world, client):
    theirs = product(world, "FX-1", partnership=world.theirs, name="Foreign board")
    run(world.theirs, theirs)
    client.force_login(world.buyer)
    for kind, text in [("products", "FX"), ("runs", str(theirs.runs.get().pk)), ("people", "")]:
        body = lookup(client, world.ours, kind, text).content.decode()
        assert "FX-1" not in body and "foreign" not in body.lower()
    people = lookup(client, world.ours, "people", "").content.decode()
    assert "buyer@oem.example" in people and "am@ems.example" in people
    ems_only = lookup(client, world.ours, "people-ems", "").content.decode()
    assert "am@ems.example" in ems_only and "buyer@oem.example" not in ems_only


def test_lookup_of_a_foreign_partnership_or_unknown_kind_is_404(world, client):
    product(world, "FX-1", partnership=world.theirs)
    client.force_login(world.buyer)
    assert lookup(client, world.theirs, "products", "FX").status_code == 404
    assert lookup(client, world.ours, "contracts", "").status_code == 404
    client.force_login(world.outsider)
    assert lookup(client, world.ours, "products", "").status_code == 404
    client.logout()
    assert lookup(client, world.ours, "products", "").status_code == 302  # to the login


def test_lookup_finds_decisions_by_number_or_title(world, client, active_contract):  # noqa: F811
    decision = contract_services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Replace C12 with a non-AVL capacitor",
        category="component_substitution",
        outside_avl=True,
    )
    client.force_login(world.buyer)
    option = f'<option value="{decision.reference}">'
    assert option in lookup(client, world.ours, "decisions", "capacitor").content.decode()
    assert option in lookup(client, world.ours, "decisions", str(decision.number)).content.decode()
    assert option not in lookup(client, world.ours, "decisions", "resistor").content.decode()


# --- typing without JavaScript -------------------------------------------------------------


def run_data(product_text, **extra):
    today = dt.date.today()
    return {
        "product": product_text,
        "quantity": 500,
        "planned_launch": today + dt.timedelta(weeks=2),
        "due_date": today + dt.timedelta(weeks=3),
        "priority": 2,
        **extra,
    }


def test_run_created_by_typing_the_part_number(world, client):
    mine = product(world, "MB-200", revision="C")
    client.force_login(world.buyer)
    url = reverse("schedules:runs", args=[world.ours.pk])
    assert client.post(url, run_data("mb-200")).status_code == 302  # the only revision
    assert client.post(url, run_data("MB-200 rev C")).status_code == 302  # as suggested
    assert client.post(url, run_data(str(mine.pk))).status_code == 302  # an id still works
    assert list(ProductionRun.objects.values_list("product", flat=True)) == [mine.pk] * 3


@pytest.mark.parametrize("typed", ["FX-1", "FX-1 rev A", "{foreign_pk}", "NOPE", "MB-200"])
def test_foreign_unknown_or_ambiguous_product_is_a_field_error(world, client, typed):
    product(world, "MB-200", revision="A")
    product(world, "MB-200", revision="B")
    foreign = product(world, "FX-1", partnership=world.theirs)
    client.force_login(world.buyer)
    response = client.post(
        reverse("schedules:runs", args=[world.ours.pk]),
        run_data(typed.format(foreign_pk=foreign.pk)),
    )
    assert response.status_code == 400
    assert list(response.context["form"].errors) == ["product"]
    assert not ProductionRun.objects.exists()
    # The typed text stays in the field, next to its error.
    assert f'value="{typed.format(foreign_pk=foreign.pk)}"' in response.content.decode()


def test_problem_links_typed_as_keys(world, client, active_contract):  # noqa: F811
    board = product(world, "MB-200", revision="C")
    the_run = run(world.ours, board)
    decision = contract_services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Substitute",
        category="component_substitution",
    )
    client.force_login(world.buyer)
    url = reverse("comms:problems", args=[world.ours.pk])
    data = {
        "title": "Tombstoning on C12",
        "severity": "high",
        "description": "Side A of C12 lifts in reflow.",
        "owner": "AM@ems.example",
        "product": "MB-200 rev C",
        "production_run": f"#{the_run.pk}",
        "decision_request": decision.reference,
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    problem = Problem.objects.get()
    assert (problem.owner, problem.product, problem.production_run, problem.decision_request) == (
        world.account_manager,
        board,
        the_run,
        decision,
    )
    # A foreign owner, run or product is a field error on that field, and nothing is saved.
    foreign_run = run(world.theirs, product(world, "FX-1", partnership=world.theirs))
    response = client.post(
        url,
        {
            **data,
            "owner": "admin@foreign.example",
            "production_run": str(foreign_run.pk),
            "product": "FX-1",
        },
    )
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"owner", "production_run", "product"}
    assert Problem.objects.count() == 1


def test_audit_action_owner_must_be_on_the_ems_side(world):
    from audits.forms import ActionForm

    due = dt.date.today().isoformat()
    form = ActionForm({"owner": "buyer@oem.example", "due_date": due}, partnership=world.ours)
    assert list(form.errors) == ["owner"]
    form = ActionForm({"owner": "am@ems.example", "due_date": due}, partnership=world.ours)
    assert form.is_valid() and form.cleaned_data["owner"] == world.account_manager


# --- create pages do not grow with the data --------------------------------------------------


def _page(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("url_name", ["schedules:runs", "comms:problems"])
def test_create_pages_do_not_list_every_product(world, client, url_name):
    """1× vs 10× products (and their runs): the same queries, and no product in the form."""
    client.force_login(world.buyer)
    url = reverse(url_name, args=[world.ours.pk])
    first = product(world, "QC-000")
    run(world.ours, first).delete()  # the runs page lists runs: compare the form, not rows
    one, _body = _page(client, url)
    for i in range(1, 10):
        product(world, f"QC-{i:03}")
    ten, body = _page(client, url)
    assert one == ten
    assert "QC-009" not in body and "<datalist" in body
    assert f'hx-get="{reverse("lookup", args=[world.ours.pk, "products"])}?field=product"' in body


def test_a_person_is_typed_by_e_mail_or_full_name(world):
    from comms.forms import ActionItemForm

    world.account_manager.first_name, world.account_manager.last_name = "Ewa", "Dąbrowska"
    world.account_manager.save()
    due = dt.date.today().isoformat()
    for typed in ("ewa dąbrowska", "AM@ems.example", str(world.account_manager.pk)):
        form = ActionItemForm(
            {"title": "x", "owner": typed, "due_date": due}, partnership=world.ours
        )
        assert form.is_valid(), form.errors
        assert form.cleaned_data["owner"] == world.account_manager
    world.buyer.first_name, world.buyer.last_name = "Ewa", "Dąbrowska"
    world.buyer.save()
    form = ActionItemForm(
        {"title": "x", "owner": "Ewa Dąbrowska", "due_date": due}, partnership=world.ours
    )
    assert "Several match" in form.errors["owner"][0]


def test_search_field_is_labelled_and_described(world, client):
    """The label names the input and aria-describedby points at the help text that says what to
    type (Django sets the attribute; the field template must use the same id)."""
    client.force_login(world.buyer)
    body = client.get(reverse("schedules:runs", args=[world.ours.pk])).content.decode()
    assert '<label for="id_product">' in body
    assert 'aria-describedby="id_product_helptext"' in body
    assert '<span class="helptext" id="id_product_helptext">' in body


def test_a_numeric_part_number_wins_over_an_id(world, client):
    """ERP part numbers are often digits: "12" is the part number 12 if there is one, "#12" is
    always the id."""
    other = product(world, "MB-1")
    numeric = product(world, str(other.pk))
    client.force_login(world.buyer)
    url = reverse("schedules:runs", args=[world.ours.pk])
    assert client.post(url, run_data(str(other.pk))).status_code == 302
    assert client.post(url, run_data(f"#{other.pk}")).status_code == 302
    assert list(ProductionRun.objects.order_by("pk").values_list("product", flat=True)) == [
        numeric.pk,
        other.pk,
    ]
