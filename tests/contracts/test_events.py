"""Every write of ``contracts.services`` announces itself on the event path
(``partnership.events``): the events each action emits, the webhook deliveries they make
(``decision_request.raised``/``answered``, with ``action`` and ``changed``), the notifications
the subscribers send (the texts the services sent before), and edits that change nothing
emitting nothing and writing no history row."""

import datetime as dt
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from contracts import services
from contracts.models import (
    Contract,
    DecisionEvent,
    DecisionRequest,
    DecisionRule,
    FlexBand,
    ResponsibilityItem,
)
from integrations.models import WebhookDelivery, WebhookSubscription
from partnership import events
from partnership.models import Notification, Role
from tests.factories import member

pytestmark = pytest.mark.django_db

Status = DecisionRequest.Status
ANSWERED = ["status", "answered_by", "answered_at", "answer"]
BOTH_SIDES = {"buyer@oem.example", "admin@oem.example", "am@ems.example", "admin@ems.example"}


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def hooks(world):
    """The OEM listens to both decision-request webhooks; so does the EMS, for answers."""
    return [
        WebhookSubscription.objects.create(
            organization=world.oem,
            url="https://erp.oem.example/hook",
            events=["decision_request.raised", "decision_request.answered"],
            secret="s",
        ),
        WebhookSubscription.objects.create(
            organization=world.ems,
            url="https://mes.ems.example/hook",
            events=["decision_request.answered"],
            secret="s",
        ),
    ]


def emitted(seen):
    return [(e.kind, e.action) for e in seen]


def deliveries(since=0):
    """``(webhook event, receiving organisation, action, changed, object id)``, in order."""
    return [
        (
            d.event,
            d.subscription.organization.kind,
            d.payload["action"],
            d.payload["changed"],
            d.payload["object"]["id"],
        )
        for d in WebhookDelivery.objects.filter(pk__gt=since)
        .select_related("subscription__organization")
        .order_by("pk")
    ]


def last_delivery():
    return WebhookDelivery.objects.order_by("pk").last()


def notices(since=0):
    """``{subject: ({recipients}, body, url)}`` of the notifications written since ``since``."""
    out = {}
    for n in Notification.objects.filter(pk__gt=since).select_related("user").order_by("pk"):
        recipients, body, url = out.setdefault(n.subject, (set(), n.body, n.url))
        recipients.add(n.user.email)
        assert (body, url) == (n.body, n.url)
    return out


def mark():
    """The last notification and delivery ids: what a step adds comes after them."""
    return (
        Notification.objects.order_by("pk").values_list("pk", flat=True).last() or 0,
        WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True).last() or 0,
    )


def history_count(obj):
    return type(obj).history.filter(id=obj.pk).count()


def needs_approval(world, **kwargs):
    kwargs.setdefault("title", "Replace C12 with a Murata part")
    return services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        category="component_substitution",
        outside_avl=True,
        **kwargs,
    )


def consults(world, **kwargs):
    """Routed to consult_oem (answer: acknowledge or reject)."""
    return services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Use the pre-approved alternate for U7",
        category="component_substitution",
        **kwargs,
    )


def silent(world):
    """A process change routed with silence as consent."""
    return services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Move reflow to line 2",
        category="process_change",
    )


# --- Decision requests: raised ------------------------------------------------------------------


def test_raising_emits_raised_once_and_sends_the_raised_webhook(world, active_contract, hooks):
    notes, _d = mark()
    with events.capture() as seen:
        request = needs_approval(world, description="Same footprint")

    assert emitted(seen) == [("decision_request", "raised")]
    assert (seen[0].obj, seen[0].by, seen[0].changed, seen[0].saved) == (
        request,
        world.account_manager,
        (),
        True,
    )
    assert deliveries() == [("decision_request.raised", "oem", "raised", [], request.pk)]
    assert last_delivery().payload["object"]["status"] == "awaiting_oem"
    assert notices(notes) == {
        "DR-0001 needs your approval: Replace C12 with a Murata part": (
            {"buyer@oem.example", "admin@oem.example"},
            request.routing_explanation,
            request.get_absolute_url(),
        )
    }
    assert history_count(request) == 1


def test_the_raised_subject_follows_the_routing(world, active_contract):
    notes, _sent = mark()
    consulted = consults(world)
    decided = services.raise_decision_request(
        by=world.account_manager,
        partnership=world.ours,
        title="Second source for R5",
        category="alternate_source",
    )

    assert (consulted.mode, decided.mode) == ("consult_oem", "ems_decides")
    assert set(notices(notes)) == {
        f"{consulted.reference}: the EMS consults you on {consulted.title}",
        f"{decided.reference} decided by the EMS: {decided.title}",
    }


def test_every_way_of_raising_sends_the_same_webhook(world, client, active_contract, hooks):
    """The page, POST, PUT by external id and bulk upsert all end in the service."""
    from integrations import services as key_services

    _key, plaintext = key_services.issue_api_key(
        by=world.ems_admin,
        organization=world.ems,
        name="MES",
        scopes=["*:write"],
        role=Role.ACCOUNT_MANAGER,
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}
    body = {"title": "Alternate capacitor", "category": "component_substitution"}

    client.force_login(world.account_manager)
    page = client.post(
        reverse("contracts:decision_create", args=[world.ours.pk]),
        {**body, "title": "From the page", "outside_avl": "on"},
    )
    assert page.status_code == 302, page.content
    client.logout()
    posted = client.post(
        "/api/v1/decision-requests/",
        {"partnership": world.ours.pk, **body, "outside_avl": True},
        content_type="application/json",
        **auth,
    )
    assert posted.status_code == 201, posted.content
    put = client.put(
        "/api/v1/decision-requests/by-external-id/ECO-1/",
        {"partnership": world.ours.pk, **body, "outside_avl": True},
        content_type="application/json",
        **auth,
    )
    assert put.status_code == 201, put.content
    bulk = client.post(
        "/api/v1/decision-requests/bulk-upsert/",
        {
            "partnership": world.ours.pk,
            "items": [
                {"external_id": "ECO-2", **body, "outside_avl": True},
                {"external_id": "ECO-1", **body, "outside_avl": True},  # unchanged
            ],
        },
        content_type="application/json",
        **auth,
    )
    assert bulk.status_code == 200, bulk.content

    ids = list(DecisionRequest.objects.order_by("number").values_list("pk", flat=True))
    assert len(ids) == 4
    assert deliveries() == [("decision_request.raised", "oem", "raised", [], pk) for pk in ids]


def test_restating_the_same_facts_emits_and_writes_nothing(world, active_contract, hooks):
    request = needs_approval(world, external_id="ECO-7")
    notes, sent = mark()
    rows = history_count(request)

    with events.capture() as seen:
        services.restate_decision_request(
            by=world.account_manager,
            request=request,
            title=request.title,
            category=request.category,
            outside_avl=True,
        )

    assert seen == []
    assert (deliveries(sent), notices(notes), history_count(request)) == ([], {}, rows)


# --- Decision requests: answers, comments, withdrawal ---------------------------------------------


@pytest.mark.parametrize(
    "raise_, answer, action, status",
    [
        (needs_approval, "approve", "approved", "approved"),
        (needs_approval, "reject", "rejected", "rejected"),
        (consults, "acknowledge", "acknowledged", "acknowledged"),
    ],
)
def test_answers_emit_their_action_and_the_answered_webhook(
    world, active_contract, hooks, raise_, answer, action, status
):
    request = raise_(world)
    notes, sent = mark()

    with events.capture() as seen:
        services.answer_decision_request(
            by=world.buyer, request=request, action=answer, text="  Fine by us  "
        )

    assert emitted(seen) == [("decision_request", action)]
    assert (seen[0].by, list(seen[0].changed), seen[0].data["text"]) == (
        world.buyer,
        ANSWERED,
        "  Fine by us  ",
    )
    assert deliveries(sent) == [
        ("decision_request.answered", "oem", action, ANSWERED, request.pk),
        ("decision_request.answered", "ems", action, ANSWERED, request.pk),
    ]
    assert last_delivery().payload["object"]["status"] == status
    assert notices(notes) == {
        f"{request.reference} {status} by {world.buyer}": (
            {"am@ems.example", "admin@ems.example"},
            "  Fine by us  ",  # the text as typed, as before
            request.get_absolute_url(),
        )
    }


def test_a_refused_answer_emits_nothing(world, active_contract, hooks):
    request = consults(world)
    _notes, sent = mark()

    with events.capture() as seen, pytest.raises(ValidationError):
        services.answer_decision_request(by=world.buyer, request=request, action="approve")

    assert seen == [] and deliveries(sent) == []


def test_comments_emit_commented_touch_the_request_and_tell_the_other_side(
    world, active_contract, hooks
):
    request = needs_approval(world)
    notes, sent = mark()
    rows, touched = history_count(request), request.updated_at

    with events.capture() as seen:
        comment = services.comment_on_decision_request(
            by=world.buyer, request=request, text="Which datasheet?"
        )

    assert emitted(seen) == [("decision_request", "commented")]
    assert (seen[0].data["comment"], seen[0].data["side"], seen[0].saved) == (comment, "oem", True)
    assert deliveries(sent) == []  # no webhook listens to comments
    request.refresh_from_db()
    assert request.updated_at > touched and history_count(request) == rows  # a touch
    assert notices(notes) == {
        f"New comment on {request.reference}": (
            {"am@ems.example", "admin@ems.example"},
            "Which datasheet?",
            request.get_absolute_url(),
        )
    }

    notes, _sent = mark()
    services.comment_on_decision_request(
        by=world.account_manager, request=request, text="The one attached."
    )
    assert notices(notes) == {
        f"New comment on {request.reference}": (
            {"buyer@oem.example", "admin@oem.example"},
            "The one attached.",
            request.get_absolute_url(),
        )
    }


def test_attachments_come_with_the_raised_event(world, active_contract):
    upload = SimpleUploadedFile("datasheet.pdf", b"%PDF-1.4")

    with events.capture() as seen:
        request = needs_approval(world, attachments=[upload])

    assert emitted(seen) == [("decision_request", "raised")]
    assert request.attachments.get().name == "datasheet.pdf"


def test_withdrawal_emits_withdrawn_without_a_webhook(world, active_contract, hooks):
    request = needs_approval(world)
    notes, sent = mark()

    with events.capture() as seen:
        services.withdraw_decision_request(
            by=world.account_manager, request=request, text="Found stock."
        )

    assert emitted(seen) == [("decision_request", "withdrawn")]
    assert list(seen[0].changed) == ["status"]
    assert deliveries(sent) == []
    assert notices(notes) == {
        f"{request.reference} was withdrawn": (
            {"buyer@oem.example", "admin@oem.example"},
            "Found stock.",
            request.get_absolute_url(),
        )
    }


# --- Decision requests: escalation ----------------------------------------------------------------


def test_escalation_emits_escalated_and_deemed_accepted_in_one_batch(world, active_contract, hooks):
    overdue, quiet = needs_approval(world), silent(world)
    DecisionRequest.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    notes, sent = mark()

    with events.capture() as seen:
        assert services.escalate_overdue() == {"deemed_accepted": 1, "escalated": 1}

    assert sorted(emitted(seen)) == [
        ("decision_request", "deemed_accepted"),
        ("decision_request", "escalated"),
    ]
    by_action = {e.action: e for e in seen}
    assert by_action["escalated"].obj == overdue and by_action["escalated"].by is None
    assert list(by_action["escalated"].changed) == ["status", "escalated_at"]
    assert list(by_action["deemed_accepted"].changed) == [
        "status",
        "answered_at",
        "escalated_at",
    ]
    # Deemed accepted answers the request (as the old post_save did); overdue does not.
    deemed = ["status", "answered_at", "escalated_at"]
    assert deliveries(sent) == [
        ("decision_request.answered", "oem", "deemed_accepted", deemed, quiet.pk),
        ("decision_request.answered", "ems", "deemed_accepted", deemed, quiet.pk),
    ]
    assert notices(notes) == {
        f"Overdue: {overdue.reference} {overdue.title} is waiting for the OEM": (
            BOTH_SIDES,
            "No answer within 48 h; escalated to the OEM buyer and the EMS account manager.",
            overdue.get_absolute_url(),
        ),
        f"{quiet.reference} deemed accepted: {quiet.title}": (
            BOTH_SIDES,
            DecisionEvent.objects.get(request=quiet, kind="deemed_accepted").text,
            quiet.get_absolute_url(),
        ),
    }

    with events.capture() as again:
        services.escalate_overdue()
    assert again == []


def test_an_answer_after_the_escalation_is_answered(world, active_contract, hooks):
    request = needs_approval(world)
    DecisionRequest.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    services.escalate_overdue()
    _notes, sent = mark()

    services.answer_decision_request(by=world.buyer, request=request, action="approve")

    assert [d[:3] for d in deliveries(sent)] == [
        ("decision_request.answered", "oem", "approved"),
        ("decision_request.answered", "ems", "approved"),
    ]


# --- Contracts ------------------------------------------------------------------------------------


def test_drafting_emits_created_with_the_version_it_is_based_on(world, active_contract):
    with events.capture() as seen:
        draft = services.create_draft(by=world.buyer, partnership=world.ours)

    assert emitted(seen) == [("contract", "created")]
    assert (seen[0].obj, seen[0].by, seen[0].data["based_on"]) == (
        draft,
        world.buyer,
        active_contract,
    )
    assert WebhookDelivery.objects.count() == 0  # contracts offer no webhook


def test_terms_emit_changed_with_the_fields_and_a_no_op_emits_nothing(world, draft):
    rows, stamp = history_count(draft), Contract.objects.get(pk=draft.pk).updated_at

    with events.capture() as seen:
        services.update_terms(
            by=world.buyer,
            contract=draft,
            title="Frame agreement",
            frozen_zone_weeks=draft.frozen_zone_weeks,
        )

    assert emitted(seen) == [("contract", "changed")]
    assert list(seen[0].changed) == ["title"]
    assert history_count(draft) == rows + 1

    stored = Contract.objects.get(pk=draft.pk)
    rows, stamp = history_count(draft), stored.updated_at
    with events.capture() as seen:
        services.update_terms(
            by=world.buyer,
            contract=stored,
            title="Frame agreement",
            effective_from=dt.date(2026, 1, 1),
        )

    assert seen == []
    assert history_count(draft) == rows
    assert Contract.objects.get(pk=draft.pk).updated_at == stamp


def test_matrix_rows_are_contract_events_with_the_row(world, draft):
    with events.capture() as seen:
        item = services.save_matrix_item(
            by=world.buyer, contract=draft, area="Test", activity="Burn-in", oem="A", ems="R"
        )
        services.save_matrix_item(
            by=world.buyer, contract=draft, item=item, area="Test", activity="Burn-in", ems="R,C"
        )
    assert emitted(seen) == [
        ("contract", "matrix_item_created"),
        ("contract", "matrix_item_changed"),
    ]
    assert all(e.obj == draft and e.data["item"] == item for e in seen)
    assert list(seen[1].changed) == ["ems"]

    rows = history_count(item)
    with events.capture() as seen:
        services.save_matrix_item(
            by=world.buyer,
            contract=draft,
            item=ResponsibilityItem.objects.get(pk=item.pk),
            area="Test",
            activity="Burn-in",
            oem="A",
            ems="RC",
        )
    assert seen == [] and history_count(item) == rows

    pk = item.pk
    with events.capture() as seen:
        services.delete_matrix_item(by=world.buyer, item=item)
    assert emitted(seen) == [("contract", "matrix_item_deleted")]
    assert seen[0].data["item_id"] == pk


def test_a_csv_import_is_one_event_and_the_same_file_again_none(world, draft):
    data = b"area,activity,oem,ems\nTest,Burn-in,A,R\nTest,ICT,R,A\n"

    with events.capture() as seen:
        result = services.import_matrix_csv(by=world.buyer, contract=draft, data=data)
    assert result.created == 2 and not result.errors
    assert emitted(seen) == [("contract", "matrix_imported")]
    assert [i.activity for i in seen[0].data["items"]] == ["Burn-in", "ICT"]

    ids = set(draft.matrix.values_list("pk", flat=True))
    with events.capture() as seen:
        again = services.import_matrix_csv(by=world.buyer, contract=draft, data=data)
    assert again.created == 2 and seen == []
    assert set(draft.matrix.values_list("pk", flat=True)) == ids  # not rewritten


def test_rules_are_contract_events_with_the_rule(world, draft):
    rule = DecisionRule(
        category="price_change",
        outcome="oem_approval",
        response_hours=24,
        min_price_change_pct=Decimal("10"),
        clause_ref="5.4",
    )

    with events.capture() as seen:
        services.save_rule(by=world.buyer, contract=draft, rule=rule)
        rule.response_hours = 12  # as a model form does: the instance carries the new values
        services.save_rule(by=world.buyer, contract=draft, rule=rule)
    assert emitted(seen) == [("contract", "rule_created"), ("contract", "rule_changed")]
    assert list(seen[1].changed) == ["response_hours"] and seen[1].data["rule"] == rule

    rows = history_count(rule)
    with events.capture() as seen:
        services.save_rule(
            by=world.buyer, contract=draft, rule=DecisionRule.objects.get(pk=rule.pk)
        )
    assert seen == [] and history_count(rule) == rows

    with events.capture() as seen:
        services.delete_rule(by=world.buyer, rule=rule)
    assert emitted(seen) == [("contract", "rule_deleted")]


def test_flex_bands_replaced_once_and_the_same_bands_again_emit_nothing(world, draft):
    def bands(up):
        return [
            FlexBand(from_week=1, to_week=4, max_increase_pct=Decimal("0"), max_decrease_pct=0),
            FlexBand(from_week=5, to_week=None, max_increase_pct=Decimal(up), max_decrease_pct=20),
        ]

    with events.capture() as seen:
        services.replace_flex_bands(by=world.buyer, contract=draft, bands=bands("30"))
    assert emitted(seen) == [("contract", "flex_bands_replaced")]
    assert len(seen[0].data["bands"]) == 2

    ids = set(draft.flex_bands.values_list("pk", flat=True))
    with events.capture() as seen:
        services.replace_flex_bands(by=world.buyer, contract=draft, bands=bands("30.0"))
    assert seen == [] and set(draft.flex_bands.values_list("pk", flat=True)) == ids


def test_sign_off_emits_each_step_and_notifies_as_before(world, draft):
    notes, _sent = mark()
    with events.capture() as seen:
        services.propose(by=world.buyer, contract=draft)
    assert emitted(seen) == [("contract", "proposed")]
    assert sorted(seen[0].changed) == ["proposed_at", "proposed_by", "status"]
    draft.refresh_from_db()
    assert notices(notes) == {
        f"{draft} was proposed for your review and signature": (
            {"am@ems.example", "admin@ems.example"},
            f"{world.buyer} proposed version 1. Review the changes and sign, or ask for changes.",
            draft.get_absolute_url(),
        )
    }

    notes, _sent = mark()
    with events.capture() as seen:
        services.request_changes(by=world.account_manager, contract=draft, reason=" Longer term ")
    assert emitted(seen) == [("contract", "changes_requested")]
    assert {"status", "notes"} <= set(seen[0].changed)
    assert notices(notes) == {
        f"Changes requested on {draft}": (
            {"buyer@oem.example", "admin@oem.example"},
            " Longer term ",
            draft.get_absolute_url(),
        )
    }

    services.propose(by=world.buyer, contract=draft)
    with events.capture() as seen:
        services.sign(by=world.buyer, contract=draft)
    assert emitted(seen) == [("contract", "signed")]
    assert (list(seen[0].changed), seen[0].data["side"]) == (
        ["oem_signed_by", "oem_signed_at"],
        "oem",
    )

    notes, _sent = mark()
    with events.capture() as seen:
        services.sign(by=world.account_manager, contract=draft)
    assert emitted(seen) == [("contract", "signed"), ("contract", "activated")]
    assert list(seen[1].changed) == ["status", "activated_at", "content_hash"]
    assert notices(notes) == {
        f"{draft} is now active": (
            BOTH_SIDES,
            "Both sides signed. Decision requests are now routed by this version's rules.",
            draft.get_absolute_url(),
        )
    }


def test_a_new_version_supersedes_the_active_one_and_expiry_is_an_event(world, active_contract):
    second = services.create_draft(by=world.buyer, partnership=world.ours)
    services.propose(by=world.buyer, contract=second)
    services.sign(by=world.buyer, contract=second)

    with events.capture() as seen:
        services.sign(by=world.account_manager, contract=second)
    assert emitted(seen) == [
        ("contract", "signed"),
        ("contract", "superseded"),
        ("contract", "activated"),
    ]
    assert seen[1].obj == active_contract and seen[1].data["superseded_by"] == second

    Contract.objects.filter(pk=second.pk).update(effective_until=dt.date(2026, 1, 31))
    with events.capture() as seen:
        assert services.expire_contracts(now=timezone.now().replace(year=2026, month=3)) == 1
    assert emitted(seen) == [("contract", "expired")]
    assert (seen[0].obj.pk, list(seen[0].changed), seen[0].by) == (second.pk, ["status"], None)


def test_a_viewer_is_refused_through_the_core_vocabulary(world, active_contract):
    viewer = member(world.ems, Role.VIEWER, email="viewer@ems.example")
    assert not services.can_raise(viewer, world.ours)
    assert not services.can_draft(viewer, world.ours)
    assert services.can_raise(world.account_manager, world.ours)
    assert services.can_answer(world.buyer, world.ours)
    assert not services.can_answer(world.account_manager, world.ours)
    assert services.can_sign(world.account_manager, active_contract)

    with pytest.raises(PermissionDenied, match="Only EMS members"):
        services.require_can_raise(viewer, world.ours)


def test_every_answer_is_an_answered_webhook_action():
    """The services' answers emit the actions ``decision_request.answered`` listens to."""
    from contracts import events as contract_events

    actions = {row[-1] for row in services.ANSWERS.values()}
    assert actions == {"approved", "rejected", "acknowledged"}
    assert actions | {"deemed_accepted"} == contract_events.ANSWERS
