"""Decision requests: routed by the active contract, answered by the OEM, explained by their
timeline. Permissions by side and role; concurrent answers."""

import threading
import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from contracts import routing, services, subscribers
from contracts.models import (
    DecisionAttachment,
    DecisionEvent,
    DecisionMode,
    DecisionRequest,
)
from partnership.models import Notification, Role
from tests.factories import member

pytestmark = pytest.mark.django_db

Status = DecisionRequest.Status
Kind = DecisionEvent.Kind


def raise_request(world, category="component_substitution", by=None, title="Replace C12", **kwargs):
    return services.raise_decision_request(
        by=by or world.account_manager,
        partnership=world.ours,
        title=title,
        category=category,
        **kwargs,
    )


def needs_approval(world, **kwargs):
    kwargs.setdefault("title", "Replace C12 with a Murata part")
    return raise_request(world, outside_avl=True, **kwargs)


def consults(world, **kwargs):
    kwargs.setdefault("title", "Use the pre-approved alternate for U7")
    return raise_request(world, **kwargs)


def answer(user, request, action, text=""):
    return services.answer_decision_request(by=user, request=request, action=action, text=text)


def about_requests():
    """Notifications about decision requests (not the contract's activation)."""
    return Notification.objects.filter(subject__contains="DR-")


def subjects(user):
    return list(about_requests().filter(user=user).order_by("id").values_list("subject", flat=True))


def timeline(request):
    return [(e.kind, e.actor) for e in request.events.all()]


# --- Raising and routing --------------------------------------------------------------------


def test_routing_is_recorded_with_rule_mode_explanation_and_due_time(world, active_contract):
    before = timezone.now()
    request = needs_approval(
        world, description="Murata GRM series, same footprint", cost_impact=Decimal("120.50")
    )
    after = timezone.now()

    request.refresh_from_db()
    assert (request.number, request.reference) == (1, "DR-0001")
    assert request.contract == active_contract and request.partnership == world.ours
    assert (request.raised_by, request.raised_by_org) == (world.account_manager, world.ems)
    assert request.rule == active_contract.rules.get(clause_ref="7.2")
    assert (request.mode, request.status) == (DecisionMode.OEM_APPROVAL, Status.AWAITING_OEM)
    assert (request.response_hours, request.silence_is_consent) == (48, False)
    assert before + timedelta(hours=48) <= request.due_at <= after + timedelta(hours=48)
    expected = routing.route(
        list(active_contract.rules.all()),
        category="component_substitution",
        facts=request.facts(),
        default_mode="consult_oem",
        default_hours=72,
    )
    assert request.routing_explanation == expected.explanation
    assert request.routing_explanation.startswith("Rule 7.2 applies: ")
    assert request.facts() == {
        "cost_impact": Decimal("120.50"),
        "price_change_pct": None,
        "delay_days": None,
        "quantity": None,
        "safety_critical": False,
        "outside_avl": True,
        "fff_impact": False,
        "ipc_class3": False,
        "customer_visible": False,
    }
    assert request.is_open and timedelta(hours=47) < request.time_left() <= timedelta(hours=48)


def test_numbers_count_up_per_partnership(world, active_contract):
    first = consults(world)
    second = needs_approval(world)

    assert [first.reference, second.reference] == ["DR-0001", "DR-0002"]


def test_ems_decides_needs_no_answer_and_informs_the_oem(world, active_contract):
    request = raise_request(world, category="alternate_source", title="Buy U7 from Arrow")

    assert (request.mode, request.status, request.due_at) == (
        DecisionMode.EMS_DECIDES,
        Status.DECIDED_BY_EMS,
        None,
    )
    assert request.rule.clause_ref == "7.4"
    assert not request.is_open and request.time_left() is None
    subject = "DR-0001 decided by the EMS: Buy U7 from Arrow"
    assert subjects(world.buyer) == [subject]
    assert subjects(world.oem_admin) == [subject]
    assert subjects(world.account_manager) == [] and subjects(world.oem_viewer) == []
    for action in ("approve", "acknowledge", "reject"):
        with pytest.raises(ValidationError, match="already answered"):
            answer(world.buyer, request, action, "no")


def test_no_rule_matching_routes_to_the_contracts_default(world, draft):
    draft.rules.filter(category="subcontracting").delete()
    services.update_terms(by=world.buyer, contract=draft, default_response_hours=12)
    services.propose(by=world.buyer, contract=draft)
    services.sign(by=world.buyer, contract=draft)
    services.sign(by=world.account_manager, contract=draft)

    request = raise_request(
        world, category="subcontracting", title="Conformal coating at a partner"
    )

    assert (request.rule, request.mode, request.response_hours) == (
        None,
        DecisionMode.CONSULT_OEM,
        12,
    )
    assert "default applies" in request.routing_explanation


def test_the_oem_is_notified_according_to_the_mode(world, active_contract):
    consults(world)
    needs_approval(world)

    assert subjects(world.buyer) == [
        "DR-0001: the EMS consults you on Use the pre-approved alternate for U7",
        "DR-0002 needs your approval: Replace C12 with a Murata part",
    ]


def test_only_ems_members_raise_requests(world, active_contract, oem_quality, ems_planner):
    ems_viewer = member(world.ems, Role.VIEWER)
    for user in (world.buyer, oem_quality, world.oem_admin, ems_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            raise_request(world, by=user)
    assert not DecisionRequest.objects.exists()

    assert raise_request(world, by=ems_planner).raised_by == ems_planner


def test_without_an_active_contract_there_is_nothing_to_route_by(world, draft):
    with pytest.raises(ValidationError, match="no active contract"):
        raise_request(world)

    services.propose(by=world.buyer, contract=draft)
    with pytest.raises(ValidationError, match="no active contract"):
        raise_request(world)
    assert not DecisionRequest.objects.exists()


def test_the_external_id_is_unique_per_partnership(world, active_contract):
    needs_approval(world, external_id="SAP-4711")

    with pytest.raises(ValidationError) as exc:
        consults(world, external_id="SAP-4711")

    assert exc.value.message_dict == {
        "external_id": ["A decision request with this external id already exists."]
    }
    assert DecisionRequest.objects.count() == 1
    # Requests without one never collide, and the next number is still free.
    assert consults(world, external_id="").external_id is None
    assert consults(world).number == 3


def test_the_same_external_id_in_another_partnership_is_fine(world, active_contract):
    needs_approval(world, external_id="SAP-4711")
    other_buyer = member(world.other_oem, Role.BUYER)
    other_am = member(world.other_ems, Role.ACCOUNT_MANAGER)
    theirs = services.create_draft(by=other_buyer, partnership=world.theirs)
    services.update_terms(
        by=other_buyer, contract=theirs, effective_from=active_contract.effective_from
    )
    services.propose(by=other_buyer, contract=theirs)
    services.sign(by=other_buyer, contract=theirs)
    services.sign(by=other_am, contract=theirs)

    request = services.raise_decision_request(
        by=other_am,
        partnership=world.theirs,
        title="X",
        category="deviation",
        external_id="SAP-4711",
    )

    assert (request.number, request.external_id) == (1, "SAP-4711")


# --- Attachments ----------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_attachments_are_stored_with_the_request(world, active_contract, media):
    upload = SimpleUploadedFile("datasheet.PDF", b"%PDF-1.7 test", content_type="application/pdf")

    request = needs_approval(world, attachments=[upload])

    [attachment] = request.attachments.all()
    assert (attachment.name, attachment.size, attachment.uploaded_by) == (
        "datasheet.PDF",
        13,
        world.account_manager,
    )
    assert attachment.file.name.startswith(f"decisions/{world.ours.pk}/{request.pk}/")
    assert (media / attachment.file.name).read_bytes() == b"%PDF-1.7 test"


@pytest.mark.parametrize(
    ("name", "size", "error"),
    [
        ("huge.pdf", services.MAX_ATTACHMENT_BYTES + 1, "huge.pdf is larger than 10 MB."),
        ("setup.exe", 10, "setup.exe: allowed file types are "),
        ("report.pdf.exe", 10, "report.pdf.exe: allowed file types are "),
        ("noextension", 10, "noextension: allowed file types are "),
    ],
)
def test_bad_attachments_are_rejected_and_nothing_is_saved(
    world, active_contract, media, name, size, error
):
    good = SimpleUploadedFile("photo.jpg", b"jpeg")
    bad = SimpleUploadedFile(name, b"x" * size)

    with pytest.raises(ValidationError) as exc:
        needs_approval(world, attachments=[good, bad])

    [message] = exc.value.message_dict["attachments"]
    assert message.startswith(error)
    assert not DecisionRequest.objects.exists() and not DecisionAttachment.objects.exists()
    assert not any(media.rglob("*.*"))
    assert not about_requests().exists()


def test_an_attachment_of_exactly_the_limit_is_accepted(world, active_contract, media):
    upload = SimpleUploadedFile("big.zip", b"x" * services.MAX_ATTACHMENT_BYTES)

    request = needs_approval(world, attachments=[upload])

    assert request.attachments.get().size == services.MAX_ATTACHMENT_BYTES


# --- Answers --------------------------------------------------------------------------------


def test_consult_oem_is_acknowledged(world, active_contract, oem_quality):
    request = consults(world)
    assert (request.mode, request.rule.clause_ref) == (DecisionMode.CONSULT_OEM, "7.1")

    with pytest.raises(ValidationError) as exc:
        answer(world.buyer, request, "approve")
    assert "cannot be answered with" in exc.value.message_dict["action"][0]

    answer(oem_quality, request, "acknowledge", "  Fine, keep us posted.  ")

    request.refresh_from_db()
    assert request.status == Status.ACKNOWLEDGED
    assert (request.answered_by, request.answer) == (oem_quality, "Fine, keep us posted.")
    assert request.answered_at is not None and not request.is_open
    assert subjects(world.account_manager)[-1] == f"DR-0001 acknowledged by {oem_quality}"


def test_oem_approval_is_approved(world, active_contract):
    request = needs_approval(world)

    with pytest.raises(ValidationError, match="cannot be answered with"):
        answer(world.buyer, request, "acknowledge")
    before = timezone.now()
    answer(world.buyer, request, "approve")

    request.refresh_from_db()
    assert (request.status, request.answered_by, request.answer) == (
        Status.APPROVED,
        world.buyer,
        "",
    )
    assert request.answered_at >= before
    subject = f"DR-0001 approved by {world.buyer}"
    assert subjects(world.account_manager)[-1] == subject
    assert subjects(world.ems_admin)[-1] == subject


def test_a_rejection_needs_a_reason(world, active_contract, ems_planner):
    request = needs_approval(world, by=ems_planner)

    for text in ("", "   "):
        with pytest.raises(ValidationError) as exc:
            answer(world.oem_admin, request, "reject", text)
        assert exc.value.message_dict == {"text": ["Give the reason for the rejection."]}
    request.refresh_from_db()
    assert request.status == Status.AWAITING_OEM

    answer(world.oem_admin, request, "reject", "Murata part not qualified for 125 °C.")

    request.refresh_from_db()
    assert (request.status, request.answer) == (
        Status.REJECTED,
        "Murata part not qualified for 125 °C.",
    )
    # The EMS's key people and the person who raised it hear about it.
    assert subjects(ems_planner)[-1] == f"DR-0001 rejected by {world.oem_admin}"
    assert subjects(world.account_manager)[-1] == f"DR-0001 rejected by {world.oem_admin}"


def test_a_consultation_can_be_rejected_too(world, active_contract):
    request = consults(world)

    answer(world.buyer, request, "reject", "Not this alternate, please.")

    request.refresh_from_db()
    assert request.status == Status.REJECTED


def test_ems_users_can_never_approve(world, active_contract, ems_planner):
    ems_viewer = member(world.ems, Role.VIEWER)
    request = needs_approval(world)

    for user in (world.account_manager, world.ems_admin, ems_planner, ems_viewer):
        for action in ("approve", "reject", "acknowledge"):
            with pytest.raises(PermissionDenied):
                answer(user, request, action, "ok")

    request.refresh_from_db()
    assert (request.status, request.answered_by) == (Status.AWAITING_OEM, None)


def test_oem_viewers_and_outsiders_cannot_answer(world, active_contract):
    request = needs_approval(world)

    for user in (world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            answer(user, request, "approve")

    request.refresh_from_db()
    assert request.status == Status.AWAITING_OEM


def test_answering_twice_is_refused(world, active_contract):
    request = needs_approval(world)
    answer(world.buyer, request, "approve")

    with pytest.raises(ValidationError, match=r"already answered \(Approved\)"):
        answer(world.oem_admin, request, "reject", "Changed my mind")
    with pytest.raises(ValidationError, match="already answered"):
        answer(world.buyer, request, "approve")  # a stale instance, as from a second tab

    request.refresh_from_db()
    assert (request.status, request.answered_by) == (Status.APPROVED, world.buyer)
    assert [kind for kind, _actor in timeline(request)].count(Kind.APPROVED) == 1


def test_an_unknown_answer_is_refused(world, active_contract):
    request = needs_approval(world)

    with pytest.raises(ValidationError) as exc:
        answer(world.buyer, request, "delete")

    assert exc.value.message_dict == {"action": ["Unknown answer."]}


# --- Withdrawal -----------------------------------------------------------------------------


def test_the_ems_withdraws_an_open_request(world, active_contract, ems_planner):
    request = needs_approval(world)

    for user in (world.buyer, world.oem_admin, world.outsider):
        with pytest.raises(PermissionDenied):
            services.withdraw_decision_request(by=user, request=request)

    services.withdraw_decision_request(
        by=ems_planner, request=request, text="Found stock of the original."
    )

    request.refresh_from_db()
    assert request.status == Status.WITHDRAWN
    assert subjects(world.buyer)[-1] == "DR-0001 was withdrawn"
    with pytest.raises(ValidationError, match="already answered"):
        answer(world.buyer, request, "approve")
    with pytest.raises(ValidationError, match="Only an open request can be withdrawn"):
        services.withdraw_decision_request(by=world.account_manager, request=request)


@pytest.mark.parametrize("how", ["answered", "decided_by_ems"])
def test_a_closed_request_cannot_be_withdrawn(world, active_contract, how):
    if how == "answered":
        request = needs_approval(world)
        answer(world.buyer, request, "approve")
    else:
        request = raise_request(world, category="alternate_source")

    with pytest.raises(ValidationError, match="Only an open request can be withdrawn"):
        services.withdraw_decision_request(by=world.account_manager, request=request)

    request.refresh_from_db()
    assert request.status != Status.WITHDRAWN


# --- Timeline -------------------------------------------------------------------------------


def test_the_timeline_tells_the_story_in_order(world, active_contract):
    request = needs_approval(world, description="Original is on allocation until Q3.")
    services.comment_on_decision_request(
        by=world.buyer, request=request, text="Which Murata series?"
    )
    services.comment_on_decision_request(by=world.account_manager, request=request, text="GRM31.")
    answer(world.buyer, request, "approve", "OK for lots 24-30.")

    events = list(request.events.all())
    assert timeline(request) == [
        (Kind.RAISED, world.account_manager),
        (Kind.ROUTED, None),
        (Kind.COMMENT, world.buyer),
        (Kind.COMMENT, world.account_manager),
        (Kind.APPROVED, world.buyer),
    ]
    assert [e.text for e in events] == [
        "Original is on allocation until Q3.",
        request.routing_explanation,
        "Which Murata series?",
        "GRM31.",
        "OK for lots 24-30.",
    ]
    assert [e.created_at for e in events] == sorted(e.created_at for e in events)
    # Comments notify the other side.
    assert "New comment on DR-0001" in subjects(world.account_manager)
    assert "New comment on DR-0001" in subjects(world.buyer)


def test_viewers_cannot_comment_and_comments_need_text(world, active_contract):
    request = needs_approval(world)

    with pytest.raises(PermissionDenied):
        services.comment_on_decision_request(by=world.oem_viewer, request=request, text="Hi")
    with pytest.raises(PermissionDenied):
        services.comment_on_decision_request(by=world.outsider, request=request, text="Hi")
    with pytest.raises(ValidationError):
        services.comment_on_decision_request(by=world.buyer, request=request, text="  ")

    assert not request.events.filter(kind=Kind.COMMENT).exists()


# --- Concurrency ----------------------------------------------------------------------------


def run_at_once(*calls):
    """Run each call in its own thread (and database connection), released together."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def worker(n, call):
        try:
            barrier.wait(timeout=10)
            results[n] = ("ok", call())
        except Exception as exc:  # reported to the test
            results[n] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n, call)) for n, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def slow_notify(*args, **kwargs):
    """Hold the transaction open after the status was written, so a racer overlaps it."""
    time.sleep(0.3)
    return original_notify(*args, **kwargs)


original_notify = subscribers.notify


@pytest.mark.django_db(transaction=True)
def test_two_answers_at_once_exactly_one_wins(world, active_contract):
    request = needs_approval(world)

    with mock.patch.object(subscribers, "notify", slow_notify):
        results = run_at_once(
            lambda: answer(world.buyer, request, "approve"),
            lambda: answer(world.oem_admin, request, "reject", "No."),
        )

    outcomes = sorted(kind for kind, _value in results)
    assert outcomes == ["error", "ok"], results
    [(_, error)] = [r for r in results if r[0] == "error"]
    assert isinstance(error, ValidationError) and "already answered" in error.messages[0]
    [(_, winner)] = [r for r in results if r[0] == "ok"]
    request.refresh_from_db()
    assert request.status == winner.status
    assert request.answered_by == winner.answered_by
    answers = request.events.filter(kind__in=[Kind.APPROVED, Kind.REJECTED])
    assert answers.count() == 1


@pytest.mark.django_db(transaction=True)
def test_withdrawal_and_approval_at_once_exactly_one_wins(world, active_contract):
    request = needs_approval(world)

    with mock.patch.object(subscribers, "notify", slow_notify):
        results = run_at_once(
            lambda: answer(world.buyer, request, "approve"),
            lambda: services.withdraw_decision_request(by=world.account_manager, request=request),
        )

    assert sorted(kind for kind, _value in results) == ["error", "ok"], results
    assert all(isinstance(v, ValidationError) for kind, v in results if kind == "error")
    request.refresh_from_db()
    assert request.status in (Status.APPROVED, Status.WITHDRAWN)
    assert request.events.filter(kind__in=[Kind.APPROVED, Kind.WITHDRAWN]).count() == 1


@pytest.mark.django_db(transaction=True)
def test_requests_raised_at_once_get_distinct_numbers(world, active_contract):
    results = run_at_once(
        *[lambda n=n: needs_approval(world, title=f"Request {n}") for n in range(4)]
    )

    assert all(kind == "ok" for kind, _value in results), results
    assert sorted(r.number for _kind, r in results) == [1, 2, 3, 4]
