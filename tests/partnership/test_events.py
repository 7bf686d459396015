"""The event path itself (partnership.events): batches, filters, phases, failures."""

import pytest
from django.db import transaction

from partnership import events, registry
from partnership.models import Partnership


@pytest.fixture
def handlers():
    """Subscribe test handlers for the duration of a test (the registry is process-wide)."""
    added = []

    def add(*args, **kwargs):
        def register(handler):
            registry.subscribe(*args, name=f"test:{handler.__name__}", **kwargs)(handler)
            added.append(f"test:{handler.__name__}")
            return handler

        return register

    yield add
    registry._subscribers[:] = [s for s in registry._subscribers if s.name not in added]


def partnership_event(world, action="changed", **kwargs):
    # Any registered kind will do; ``partnership=`` names the partnership directly.
    return events.event("capacity", action, world.ours, partnership=world.ours, **kwargs)


@pytest.mark.django_db
def test_a_batch_reaches_each_handler_once_with_only_what_it_wants(world, handlers):
    seen = {"all": [], "opened": []}

    @handlers(kinds="capacity")
    def everything(batch):
        seen["all"].append([e.action for e in batch])

    @handlers(kinds="capacity", actions="opened")
    def opened_only(batch):
        seen["opened"].append([e.action for e in batch])

    events.publish([partnership_event(world, "opened"), partnership_event(world, "changed")])
    assert seen == {"all": [["opened", "changed"]], "opened": [["opened"]]}
    events.publish([partnership_event(world, "changed")])
    assert seen["opened"] == [["opened"]]  # a batch with nothing for it: not called


@pytest.mark.django_db
def test_unknown_kinds_are_a_bug(world):
    with pytest.raises(ValueError):
        events.emit("spaceship", "landed", world.ours)


@pytest.mark.django_db(transaction=True)
def test_commit_handlers_run_after_commit_and_never_after_a_rollback(world, handlers):
    ran = []

    @handlers(kinds="capacity", phase="commit")
    def after(batch):
        ran.append(batch[0].action)

    with transaction.atomic():
        events.publish([partnership_event(world, "kept")])
        assert ran == []  # not before the commit
    assert ran == ["kept"]
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish([partnership_event(world, "lost")])
        raise RuntimeError
    assert ran == ["kept"]


@pytest.mark.django_db
def test_what_a_handler_records_rolls_back_with_the_write(world, handlers):
    @handlers(kinds="capacity")
    def rename(batch):
        Partnership.objects.filter(pk=batch[0].partnership_id).update(description="recorded")

    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish([partnership_event(world)])
        assert Partnership.objects.get(pk=world.ours.pk).description == "recorded"
        raise RuntimeError
    assert Partnership.objects.get(pk=world.ours.pk).description != "recorded"


@pytest.mark.django_db
def test_a_failing_handler_is_logged_and_undoes_nothing_but_its_own_work(
    world, handlers, settings, caplog
):
    settings.EVENTS_RAISE_ERRORS = False
    later = []

    @handlers(kinds="capacity", order=1)
    def broken(batch):
        Partnership.objects.filter(pk=world.ours.pk).update(description="half-done")
        raise RuntimeError("bug in a subscriber")

    @handlers(kinds="capacity", order=2)
    def next_one(batch):
        later.append(len(batch))

    events.publish([partnership_event(world)])
    assert later == [1]  # the next handler still ran
    assert Partnership.objects.get(pk=world.ours.pk).description != "half-done"  # its savepoint
    assert "bug in a subscriber" in caplog.text

    settings.EVENTS_RAISE_ERRORS = True  # the test suite's setting: the bug fails loudly
    with pytest.raises(RuntimeError):
        events.publish([partnership_event(world)])


@pytest.mark.django_db
def test_capture_sees_every_event_published_in_the_block(world):
    with events.capture() as seen:
        events.publish([partnership_event(world, "a"), partnership_event(world, "b")])
    events.publish([partnership_event(world, "c")])
    assert [e.name for e in seen] == ["capacity.a", "capacity.b"]


def test_snapshot_and_changed_fields_compare_stored_values_by_field_name(world_db):
    product = world_db
    before = events.snapshot(product)
    assert "partnership" in before and before["partnership"] == product.partnership_id
    product.name = product.name + " v2"
    product.ipc_class = product.ipc_class
    assert events.changed_fields(product, before) == ["name"]


@pytest.fixture
def world_db(world):
    from schedules.models import Product

    return Product.objects.create(partnership=world.ours, part_number="MB-1", name="Main board")
