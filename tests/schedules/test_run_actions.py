"""A run's actions are decided once (schedules.services.runs.TRANSITIONS): the run page shows
exactly what run_actions allows, and the services refuse exactly what it does not."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from schedules import services
from schedules.models import PriorityRequest, ProductionRun

pytestmark = pytest.mark.django_db

Status = ProductionRun.Status

#: action → the form the run page shows for it (its "what" value).
FORMS = {
    "confirm": 'value="confirm"',
    "propose_dates": 'value="propose"',
    "answer_dates": 'value="accept-dates"',
    "change": 'value="change"',
    "request_priority": 'value="priority"',
    "answer_priority": 'value="accept-priority"',
}


@pytest.fixture
def run(world, product):
    launch = timezone.localdate() + dt.timedelta(weeks=8)
    return services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=100,
        planned_launch=launch,
        due_date=launch + dt.timedelta(days=3),
    )


def attempt(action, world, run):
    """Call the service behind ``action`` as the side that would take it."""
    launch, due = run.planned_launch, run.due_date
    calls = {
        "confirm": lambda: services.confirm_run(by=world.account_manager, run=run),
        "propose_dates": lambda: services.propose_dates(
            by=world.account_manager, run=run, launch=launch, due=due + dt.timedelta(days=1)
        ),
        "answer_dates": lambda: services.answer_proposed_dates(
            by=world.buyer, run=run, accept=False
        ),
        "change": lambda: services.save_run(
            by=world.buyer, partnership=world.ours, run=run, quantity=run.quantity + 1
        ),
        "request_priority": lambda: services.request_priority(
            by=world.buyer, run=run, priority=4, reason="Customer recall"
        ),
    }
    return calls[action]()


@pytest.mark.parametrize("status", Status.values)
def test_the_page_shows_exactly_the_allowed_actions_and_the_services_refuse_the_rest(
    world, client, run, status
):
    ProductionRun.objects.filter(pk=run.pk).update(status=status)
    run.refresh_from_db()
    url = reverse("schedules:run", args=[world.ours.pk, run.pk])
    shown = {}
    for user in (world.buyer, world.account_manager, world.oem_viewer):
        allowed = services.run_actions(user, run)
        client.force_login(user)
        html = client.get(url).content.decode()
        for action, form in FORMS.items():
            assert (form in html) == (action in allowed), (status, user.email, action)
        shown[user.email] = allowed
    assert shown[world.oem_viewer.email] == frozenset()
    assert not shown[world.buyer.email] & {"confirm", "propose_dates", "answer_priority"}
    assert not shown[world.account_manager.email] & {"change", "answer_dates", "request_priority"}
    allowed = shown[world.buyer.email] | shown[world.account_manager.email]
    for action in FORMS.keys() - allowed - {"answer_priority"}:
        with pytest.raises((ValidationError, PermissionDenied)):
            attempt(action, world, ProductionRun.objects.get(pk=run.pk))


def test_answering_a_priority_request_is_offered_to_the_ems_only_while_one_is_pending(world, run):
    assert "request_priority" in services.run_actions(world.buyer, run)
    request = services.request_priority(by=world.buyer, run=run, priority=4, reason="Recall")
    pending = PriorityRequest.objects.get(pk=request.pk)
    assert "request_priority" not in services.run_actions(world.buyer, run, pending)
    assert "answer_priority" in services.run_actions(world.account_manager, run, pending)
    services.answer_priority(by=world.account_manager, request=request, accept=False, answer="No")
    assert "answer_priority" not in services.run_actions(world.account_manager, run)


def test_a_closed_run_cannot_be_changed_by_any_path(world, run):
    ProductionRun.objects.filter(pk=run.pk).update(status=Status.CANCELLED, external_id="PO-1")
    run.refresh_from_db()
    with pytest.raises(ValidationError):
        services.save_run(by=world.buyer, partnership=world.ours, run=run, quantity=5)
    with pytest.raises(services.RowsRejected) as rejected:
        services.upsert_runs(
            by=world.buyer, partnership=world.ours, items=[{"external_id": "PO-1", "quantity": 5}]
        )
    assert rejected.value.rows == {0: {"non_field_errors": ["This run is closed."]}}
    assert ProductionRun.objects.get(pk=run.pk).quantity == 100
