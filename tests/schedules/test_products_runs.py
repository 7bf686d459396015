"""Products and their NPI readiness, production runs, proposed dates and re-prioritisation."""

import datetime as dt
import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from partnership.models import Notification
from schedules import services
from schedules.models import PriorityRequest, Product, ProductionRun, ReadinessFile, ReadinessItem

pytestmark = pytest.mark.django_db

Kind, Status = ReadinessItem.Kind, ReadinessItem.Status
LAUNCH = dt.date(2030, 3, 4)
DUE = dt.date(2030, 3, 15)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def item(product, kind):
    return product.readiness.get(kind=kind)


def upload(by, product, kind, content=b"G04 board outline*\nM02*\n", name=None):
    return services.upload_readiness_file(
        by=by,
        item=item(product, kind),
        upload=SimpleUploadedFile(name or f"{kind}.zip", content),
    )


def approve_all(world, product, kinds=Kind.values):
    for kind in kinds:
        upload(world.buyer, product, kind)
        services.review_readiness_item(
            by=world.account_manager, item=item(product, kind), approve=True
        )


@pytest.fixture
def released(world, product):
    approve_all(world, product)
    return services.release_for_launch(by=world.buyer, product=product)


def new_run(world, product, **fields):
    return services.save_run(
        by=world.buyer,
        partnership=world.ours,
        product=product,
        quantity=fields.pop("quantity", 500),
        planned_launch=fields.pop("planned_launch", LAUNCH),
        due_date=fields.pop("due_date", DUE),
        **fields,
    )


def reload(obj):
    obj.refresh_from_db()
    return obj


# --- products and readiness ----------------------------------------------------------------


def test_a_new_product_gets_the_whole_npi_checklist(product):
    items = list(product.readiness.all())
    assert sorted(i.kind for i in items) == sorted(Kind.values)
    assert len(items) == 7
    assert all(i.required and i.status == Status.MISSING for i in items)
    ready, blockers = services.readiness(product)
    assert not ready and len(blockers) == 7


def test_editing_a_product_does_not_duplicate_the_checklist(world, product):
    services.save_product(by=world.buyer, partnership=world.ours, product=product, name="New")
    assert reload(product).name == "New"
    assert product.readiness.count() == 7


def test_a_product_with_a_missing_gerber_cannot_be_released(world, product):
    approve_all(world, product, [k for k in Kind.values if k != Kind.GERBER])
    with pytest.raises(ValidationError) as exc:
        services.release_for_launch(by=world.buyer, product=product)
    message = " ".join(exc.value.messages)
    assert "Gerber" in message and "missing" in message
    assert "Bill of materials" not in message  # only the blocker is named
    assert reload(product).released_at is None


def test_a_product_with_every_item_approved_is_released(world, released):
    assert released.released_at is not None and released.released_by == world.buyer
    assert services.readiness(released) == (True, [])


def test_upload_submits_and_versions_with_a_checksum(world, product):
    first = upload(world.buyer, product, Kind.GERBER, b"version one")
    second = upload(world.account_manager, product, Kind.GERBER, b"version two", "gerbers.ZIP")
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 == hashlib.sha256(b"version one").hexdigest()
    assert second.sha256 == hashlib.sha256(b"version two").hexdigest()
    assert (first.size, second.name, second.uploaded_by) == (
        11,
        "gerbers.ZIP",
        world.account_manager,
    )
    with second.file.open("rb") as f:
        assert f.read() == b"version two"
    assert item(product, Kind.GERBER).status == Status.SUBMITTED
    assert list(item(product, Kind.GERBER).files.values_list("version", flat=True)) == [2, 1]


def test_upload_keeps_only_the_base_name(world, product):
    record = upload(world.buyer, product, Kind.BOM, name="../../etc/bom.csv")
    assert record.name == "bom.csv"
    assert ".." not in record.file.name


def test_too_large_a_file_is_rejected(world, product):
    with pytest.raises(ValidationError, match="larger than 25 MB"):
        upload(world.buyer, product, Kind.GERBER, b"\0" * (services.MAX_UPLOAD_BYTES + 1))
    assert not ReadinessFile.objects.exists()
    assert item(product, Kind.GERBER).status == Status.MISSING


def test_a_file_exactly_at_the_size_limit_is_accepted(world, product, monkeypatch):
    monkeypatch.setattr(services.products, "MAX_UPLOAD_BYTES", 64)
    assert upload(world.buyer, product, Kind.GERBER, b"x" * 64).size == 64
    with pytest.raises(ValidationError):
        upload(world.buyer, product, Kind.GERBER, b"x" * 65)


@pytest.mark.parametrize("name", ["setup.exe", "gerbers.zip.exe", "macro.xlsm", "noext"])
def test_a_disallowed_file_type_is_rejected(world, product, name):
    with pytest.raises(ValidationError, match="not accepted"):
        upload(world.buyer, product, Kind.GERBER, name=name)
    assert not ReadinessFile.objects.exists()


def test_ems_approves_and_rejects_with_a_reason(world, product):
    upload(world.buyer, product, Kind.BOM)
    upload(world.buyer, product, Kind.GERBER)
    approved = services.review_readiness_item(
        by=world.account_manager, item=item(product, Kind.BOM), approve=True
    )
    assert (approved.status, approved.reviewed_by) == (Status.APPROVED, world.account_manager)
    with pytest.raises(ValidationError, match="why"):
        services.review_readiness_item(
            by=world.account_manager, item=item(product, Kind.GERBER), approve=False, reason="  "
        )
    rejected = services.review_readiness_item(
        by=world.account_manager,
        item=item(product, Kind.GERBER),
        approve=False,
        reason=" Paste layer missing ",
    )
    assert (rejected.status, rejected.rejection_reason) == (Status.REJECTED, "Paste layer missing")
    # a new upload clears the rejection
    upload(world.buyer, product, Kind.GERBER)
    again = item(product, Kind.GERBER)
    assert (again.status, again.rejection_reason, again.reviewed_by) == (Status.SUBMITTED, "", None)


def test_only_a_submitted_item_can_be_reviewed(world, product):
    with pytest.raises(ValidationError, match="submitted"):
        services.review_readiness_item(
            by=world.account_manager, item=item(product, Kind.BOM), approve=True
        )


def test_the_oem_cannot_review_its_own_documents(world, product):
    upload(world.buyer, product, Kind.BOM)
    for user in (world.buyer, world.oem_admin):
        with pytest.raises(PermissionDenied):
            services.review_readiness_item(by=user, item=item(product, Kind.BOM), approve=True)
    assert item(product, Kind.BOM).status == Status.SUBMITTED


def test_uploading_again_unreleases_and_a_rejection_keeps_it_unreleased(world, released):
    upload(world.account_manager, released, Kind.GERBER, b"rev D")
    assert reload(released).released_at is None
    with pytest.raises(ValidationError, match="Gerber"):
        services.release_for_launch(by=world.buyer, product=released)
    services.review_readiness_item(
        by=world.account_manager,
        item=item(released, Kind.GERBER),
        approve=False,
        reason="Wrong rev",
    )
    with pytest.raises(ValidationError, match="rejected"):
        services.release_for_launch(by=world.buyer, product=released)
    assert reload(released).released_at is None


def test_rejecting_a_required_item_unreleases(world, released):
    """Even if a release slipped through while the item was submitted (a race)."""
    upload(world.buyer, released, Kind.BOM)
    Product.objects.filter(pk=released.pk).update(
        released_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    )
    services.review_readiness_item(
        by=world.account_manager, item=item(released, Kind.BOM), approve=False, reason="No MPNs"
    )
    assert reload(released).released_at is None


def test_not_required_items_do_not_block(world, product):
    optional = [Kind.INSPECTION_SCOPE, Kind.SOURCES]
    for kind in optional:
        services.set_item_required(by=world.buyer, item=item(product, kind), required=False)
    approve_all(world, product, [k for k in Kind.values if k not in optional])
    assert services.readiness(product) == (True, [])
    services.release_for_launch(by=world.buyer, product=product)
    # working on an optional document does not take the release back
    upload(world.buyer, product, Kind.SOURCES)
    services.review_readiness_item(
        by=world.account_manager, item=item(product, Kind.SOURCES), approve=False, reason="Old AVL"
    )
    assert reload(product).released_at is not None


def test_making_an_unapproved_item_required_unreleases(world, product):
    services.set_item_required(by=world.buyer, item=item(product, Kind.TEST_SPEC), required=False)
    approve_all(world, product, [k for k in Kind.values if k != Kind.TEST_SPEC])
    services.release_for_launch(by=world.buyer, product=product)
    services.set_item_required(by=world.buyer, item=item(product, Kind.TEST_SPEC), required=True)
    assert reload(product).released_at is None
    run = new_run(world, product)
    with pytest.raises(ValidationError, match="Test specification"):
        services.confirm_run(by=world.account_manager, run=run)


def test_only_the_oem_decides_what_is_required(world, product):
    with pytest.raises(PermissionDenied):
        services.set_item_required(
            by=world.account_manager, item=item(product, Kind.BOM), required=False
        )


# --- production runs -----------------------------------------------------------------------


def test_confirm_run_refuses_an_unreleased_product(world, product):
    run = new_run(world, product)
    with pytest.raises(ValidationError) as exc:
        services.confirm_run(by=world.account_manager, run=run)
    assert "not released" in exc.value.messages[0] and "Gerber" in exc.value.messages[0]
    assert reload(run).status == ProductionRun.Status.PLANNED


def test_confirm_run_accepts_a_released_product(world, released):
    run = services.confirm_run(by=world.account_manager, run=new_run(world, released))
    assert run.status == ProductionRun.Status.CONFIRMED
    assert run.confirmed_by == world.account_manager and run.confirmed_at is not None
    with pytest.raises(ValidationError, match="planned"):
        services.confirm_run(by=world.account_manager, run=run)


def test_only_the_ems_confirms(world, released):
    with pytest.raises(PermissionDenied):
        services.confirm_run(by=world.buyer, run=new_run(world, released))


def test_a_run_must_not_be_due_before_its_launch(world, product):
    with pytest.raises(ValidationError):
        new_run(world, product, planned_launch=DUE, due_date=LAUNCH)
    assert not ProductionRun.objects.exists()


def test_a_run_needs_a_product_of_this_partnership(world, product):
    foreign = Product.objects.create(partnership=world.theirs, part_number="X-1", name="Foreign")
    with pytest.raises(ValidationError, match="product of this partnership"):
        new_run(world, foreign)


def test_moving_a_confirmed_run_sends_it_back_for_confirmation(world, released):
    run = services.confirm_run(by=world.account_manager, run=new_run(world, released))
    run = services.save_run(
        by=world.buyer, partnership=world.ours, run=run, due_date=DUE + dt.timedelta(days=7)
    )
    assert run.status == ProductionRun.Status.PLANNED
    run = services.save_run(by=world.buyer, partnership=world.ours, run=run, quantity=600)
    assert run.status == ProductionRun.Status.PLANNED


def test_proposed_dates_accepted(world, released):
    run = new_run(world, released)
    launch, due = LAUNCH + dt.timedelta(weeks=2), DUE + dt.timedelta(weeks=2)
    run = services.propose_dates(by=world.account_manager, run=run, launch=launch, due=due)
    assert (run.status, run.proposed_launch, run.proposed_due) == ("proposed", launch, due)
    assert Notification.objects.filter(user=world.buyer, subject__startswith="New dates").exists()
    run = services.answer_proposed_dates(by=world.buyer, run=run, accept=True)
    run = reload(run)
    assert (run.planned_launch, run.due_date, run.status) == (launch, due, "confirmed")
    assert (run.proposed_launch, run.proposed_due, run.confirmed_by) == (None, None, world.buyer)


def test_proposed_dates_declined(world, product):
    run = new_run(world, product)
    run = services.propose_dates(
        by=world.account_manager, run=run, launch=LAUNCH, due=DUE + dt.timedelta(days=3)
    )
    run = reload(services.answer_proposed_dates(by=world.buyer, run=run, accept=False))
    assert (run.status, run.due_date, run.proposed_due) == ("planned", DUE, None)
    with pytest.raises(ValidationError, match="No dates are proposed"):
        services.answer_proposed_dates(by=world.buyer, run=run, accept=True)


def test_accepting_dates_for_an_unreleased_product_does_not_confirm_the_run(world, product):
    """confirm_run refuses an unreleased product; accepting proposed dates must not bypass it."""
    run = new_run(world, product)
    later = DUE + dt.timedelta(weeks=1)
    run = services.propose_dates(by=world.account_manager, run=run, launch=LAUNCH, due=later)
    run = reload(services.answer_proposed_dates(by=world.buyer, run=run, accept=True))
    assert run.due_date == later
    assert run.status == ProductionRun.Status.PLANNED
    assert run.confirmed_at is None


def test_proposed_dates_are_checked_and_owned_by_each_side(world, product):
    run = new_run(world, product)
    with pytest.raises(ValidationError):
        services.propose_dates(by=world.account_manager, run=run, launch=DUE, due=LAUNCH)
    with pytest.raises(PermissionDenied):
        services.propose_dates(by=world.buyer, run=run, launch=LAUNCH, due=DUE)
    run = services.propose_dates(by=world.account_manager, run=run, launch=LAUNCH, due=DUE)
    with pytest.raises(PermissionDenied):
        services.answer_proposed_dates(by=world.account_manager, run=run, accept=True)


def test_request_priority_one_pending_at_a_time_with_a_reason(world, planner, product):
    run = new_run(world, product)
    with pytest.raises(ValidationError, match="Explain"):
        services.request_priority(by=world.buyer, run=run, priority=4, reason=" ")
    req = services.request_priority(
        by=world.buyer, run=run, priority=4, reason="Field failure", requested_due=LAUNCH
    )
    assert (req.status, req.priority, req.requested_by) == ("pending", 4, world.buyer)
    with pytest.raises(ValidationError, match="already pending"):
        services.request_priority(by=world.buyer, run=run, priority=3, reason="Again")
    notified = set(
        Notification.objects.filter(subject__startswith="Re-prioritisation requested").values_list(
            "user__email", flat=True
        )
    )
    assert notified == {world.account_manager.email, planner.email}


def test_request_priority_due_date_must_not_precede_the_launch(world, product):
    run = new_run(world, product)
    with pytest.raises(ValidationError):
        services.request_priority(
            by=world.buyer,
            run=run,
            priority=4,
            reason="Rush",
            requested_due=LAUNCH - dt.timedelta(days=1),
        )


def test_accepting_a_priority_request_changes_priority_and_due_date(world, product):
    run = new_run(world, product)
    rush_due = LAUNCH + dt.timedelta(days=3)
    req = services.request_priority(
        by=world.buyer, run=run, priority=4, reason="Field failure", requested_due=rush_due
    )
    req = services.answer_priority(by=world.account_manager, request=req, accept=True)
    run = reload(run)
    assert (req.status, req.answered_by) == ("accepted", world.account_manager)
    assert (run.priority, run.due_date) == (ProductionRun.Priority.RUSH, rush_due)
    assert Notification.objects.filter(
        user=world.buyer, subject__startswith="Re-prioritisation accepted"
    ).exists()
    with pytest.raises(ValidationError, match="already answered"):
        services.answer_priority(by=world.account_manager, request=req, accept=False, answer="x")
    # the next request may be made now
    services.request_priority(by=world.buyer, run=run, priority=3, reason="Back to normal")


def test_declining_a_priority_request_needs_a_reason(world, product):
    run = new_run(world, product)
    req = services.request_priority(by=world.buyer, run=run, priority=4, reason="Rush")
    with pytest.raises(ValidationError, match="why"):
        services.answer_priority(by=world.account_manager, request=req, accept=False)
    req = services.answer_priority(
        by=world.account_manager, request=req, accept=False, answer="Line full"
    )
    run = reload(run)
    assert (req.status, req.answer) == ("declined", "Line full")
    assert (run.priority, run.due_date) == (ProductionRun.Priority.NORMAL, DUE)


def test_the_oem_cannot_answer_its_own_priority_request(world, product):
    req = services.request_priority(
        by=world.buyer, run=new_run(world, product), priority=4, reason="Rush"
    )
    with pytest.raises(PermissionDenied):
        services.answer_priority(by=world.buyer, request=req, accept=True)
    assert reload(req).status == PriorityRequest.Status.PENDING


def test_a_closed_run_cannot_be_reprioritised(world, product):
    run = new_run(world, product)
    ProductionRun.objects.filter(pk=run.pk).update(status=ProductionRun.Status.COMPLETED)
    with pytest.raises(ValidationError, match="closed"):
        services.request_priority(by=world.buyer, run=reload(run), priority=4, reason="Rush")


# --- roles ---------------------------------------------------------------------------------


def test_a_viewer_cannot_write(world, product):
    run = new_run(world, product)
    viewer = world.oem_viewer
    with pytest.raises(PermissionDenied):
        services.save_product(by=viewer, partnership=world.ours, part_number="V-1", name="V")
    with pytest.raises(PermissionDenied):
        upload(viewer, product, Kind.BOM)
    with pytest.raises(PermissionDenied):
        services.release_for_launch(by=viewer, product=product)
    with pytest.raises(PermissionDenied):
        services.save_run(
            by=viewer,
            partnership=world.ours,
            product=product,
            quantity=1,
            planned_launch=LAUNCH,
            due_date=DUE,
        )
    with pytest.raises(PermissionDenied):
        services.request_priority(by=viewer, run=run, priority=4, reason="Rush")
    assert not ReadinessFile.objects.exists()
    assert Product.objects.count() == 1


def test_the_ems_cannot_create_products_or_runs(world, product):
    for user in (world.account_manager, world.ems_admin):
        with pytest.raises(PermissionDenied):
            services.save_product(by=user, partnership=world.ours, part_number="E-1", name="E")
        with pytest.raises(PermissionDenied):
            services.save_run(
                by=user,
                partnership=world.ours,
                product=product,
                quantity=1,
                planned_launch=LAUNCH,
                due_date=DUE,
            )
    assert Product.objects.count() == 1 and not ProductionRun.objects.exists()


def test_outsiders_cannot_touch_the_partnership(world, product):
    with pytest.raises(PermissionDenied):
        services.save_product(
            by=world.outsider, partnership=world.ours, part_number="O-1", name="O"
        )
    with pytest.raises(PermissionDenied):
        upload(world.outsider, product, Kind.BOM)
    with pytest.raises(PermissionDenied):
        services.release_for_launch(by=world.outsider, product=product)
