"""A contract's life: drafted from the template, edited by the drafting side, proposed, sent back
or signed by both sides, active and immutable, superseded by a new version, expired."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from contracts import services, tasks, template_data
from contracts.models import Contract, DecisionMode, DecisionRule, FlexBand, ResponsibilityItem
from partnership.models import Notification, Role
from tests.factories import member

pytestmark = pytest.mark.django_db


def sign_both(world, contract):
    services.sign(by=world.buyer, contract=contract)
    services.sign(by=world.account_manager, contract=contract)
    contract.refresh_from_db()
    return contract


def activate(world, contract, proposer=None):
    services.propose(by=proposer or world.buyer, contract=contract)
    return sign_both(world, contract)


def matrix_rows(contract):
    return [(i.area, i.activity, i.oem, i.ems) for i in contract.matrix.all()]


def rule_rows(contract):
    return [
        (r.category, r.conditions(), r.outcome, r.response_hours, r.clause_ref)
        for r in contract.rules.all()
    ]


def notified(user, partnership=None):
    qs = Notification.objects.filter(user=user)
    if partnership is not None:
        qs = qs.filter(partnership=partnership)
    return list(qs.order_by("id").values_list("subject", flat=True))


# --- Drafting -------------------------------------------------------------------------------


def test_first_draft_copies_the_template(world):
    contract = services.create_draft(by=world.buyer, partnership=world.ours)

    assert (contract.version, contract.status, contract.previous) == (
        1,
        Contract.Status.DRAFT,
        None,
    )
    assert contract.drafted_by == world.oem and contract.created_by == world.buyer
    assert matrix_rows(contract) == [
        (str(a), str(act), o, e) for a, act, o, e in template_data.MATRIX
    ]
    assert [
        (r.category, r.outcome, r.response_hours, r.silence_is_consent, r.clause_ref, r.clause_text)
        for r in contract.rules.order_by("position")
    ] == [
        (
            r["category"],
            r["outcome"],
            r["response_hours"],
            r.get("silence_is_consent", False),
            r["clause_ref"],
            r["clause_text"],
        )
        for r in template_data.RULES
    ]
    assert contract.rules.get(clause_ref="5.3").min_price_change_pct == Decimal("3")
    assert contract.rules.get(clause_ref="6.3").min_cost_impact == Decimal("5000")
    assert [
        (b.from_week, b.to_week, b.max_increase_pct, b.max_decrease_pct)
        for b in contract.flex_bands.all()
    ] == [(f, t, Decimal(up), Decimal(down)) for f, t, up, down in template_data.FLEX_BANDS]
    # Drafted from the template, the only thing missing before proposing is the start date.
    assert services.contract_problems(contract) == ["Set the date the contract takes effect."]


def test_the_ems_can_draft_too_and_then_only_the_ems_edits(world):
    contract = services.create_draft(by=world.account_manager, partnership=world.ours)

    assert contract.drafted_by == world.ems
    services.update_terms(by=world.ems_admin, contract=contract, title="MSA 2026")
    with pytest.raises(PermissionDenied):
        services.update_terms(by=world.buyer, contract=contract, title="Ours")
    contract.refresh_from_db()
    assert contract.title == "MSA 2026"


def test_viewers_and_outsiders_cannot_draft(world):
    for user in (world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.create_draft(by=user, partnership=world.ours)
    assert not world.ours.contracts.exists()


def test_only_one_open_draft_at_a_time(world, draft):
    with pytest.raises(ValidationError, match="already exists"):
        services.create_draft(by=world.account_manager, partnership=world.ours)
    services.propose(by=world.buyer, contract=draft)
    with pytest.raises(ValidationError, match="already exists"):
        services.create_draft(by=world.buyer, partnership=world.ours)
    assert world.ours.contracts.count() == 1


def test_only_the_drafting_side_edits(world, draft, oem_quality, ems_planner):
    item = draft.matrix.first()
    rule = draft.rules.get(clause_ref="4.5")
    before = (matrix_rows(draft), rule_rows(draft), draft.title)

    for user in (
        world.account_manager,
        world.ems_admin,
        ems_planner,
        world.oem_viewer,
        world.outsider,
    ):
        with pytest.raises(PermissionDenied):
            services.update_terms(by=user, contract=draft, title="Changed")
        with pytest.raises(PermissionDenied):
            services.save_matrix_item(by=user, contract=draft, item=item, oem="I", ems="RA")
        with pytest.raises(PermissionDenied):
            services.save_matrix_item(
                by=user, contract=draft, area="Logistics", activity="New", oem="A", ems="R"
            )
        with pytest.raises(PermissionDenied):
            services.save_rule(
                by=user,
                contract=draft,
                rule=DecisionRule(category="deviation", outcome="oem_approval", min_quantity=5),
            )
        with pytest.raises(PermissionDenied):
            services.delete_rule(by=user, rule=rule)
        with pytest.raises(PermissionDenied):
            services.delete_matrix_item(by=user, item=item)

    draft.refresh_from_db()
    assert (matrix_rows(draft), rule_rows(draft), draft.title) == before
    # Every drafting role of the drafting side may edit, not just the buyer.
    services.update_terms(by=oem_quality, contract=draft, title="Quality's edit")
    services.save_matrix_item(by=world.oem_admin, contract=draft, item=item, oem="a r", ems="c")
    item.refresh_from_db()
    assert (item.oem, item.ems) == ("RA", "C")


def test_rules_are_validated_when_saved_and_deleted(world, draft):
    loosening = DecisionRule(
        category="engineering_change", outcome="consult_oem", min_cost_impact=100, clause_ref="8.9"
    )
    with pytest.raises(ValidationError, match=r"8\.9 would make a worse case less restricted"):
        services.save_rule(by=world.buyer, contract=draft, rule=loosening)
    assert not draft.rules.filter(clause_ref="8.9").exists()

    stricter = services.save_rule(
        by=world.buyer,
        contract=draft,
        rule=DecisionRule(
            category="engineering_change",
            outcome="oem_approval",
            response_hours=24,
            if_safety_critical=True,
            clause_ref="8.2",
        ),
    )
    assert stricter.pk and stricter.position > draft.rules.get(clause_ref="10.1").position

    # With an approval default, the schedule baseline (4.5) is what keeps 4.6 valid.
    services.update_terms(
        by=world.buyer, contract=draft, default_decision_mode=DecisionMode.OEM_APPROVAL
    )
    with pytest.raises(ValidationError, match=r"4\.6 would make a worse case less restricted"):
        services.delete_rule(by=world.buyer, rule=draft.rules.get(clause_ref="4.5"))
    assert draft.rules.filter(clause_ref="4.5").exists()
    services.delete_rule(by=world.buyer, rule=draft.rules.get(clause_ref="10.1"))
    assert not draft.rules.filter(clause_ref="10.1").exists()


def test_update_terms_validates(world, draft):
    with pytest.raises(ValidationError) as exc:
        services.update_terms(by=world.buyer, contract=draft, effective_until=dt.date(2025, 12, 31))
    assert exc.value.message_dict == {"effective_until": ["The end must not be before the start."]}
    draft.refresh_from_db()
    assert draft.effective_until is None


# --- Proposing ------------------------------------------------------------------------------


def test_propose_is_blocked_until_the_start_date_is_set(world):
    contract = services.create_draft(by=world.buyer, partnership=world.ours)

    with pytest.raises(ValidationError) as exc:
        services.propose(by=world.buyer, contract=contract)

    assert exc.value.messages == ["Set the date the contract takes effect."]
    contract.refresh_from_db()
    assert (contract.status, contract.proposed_at) == (Contract.Status.DRAFT, None)
    assert not Notification.objects.exists()


def test_propose_lists_every_problem_in_words_a_user_can_act_on(world, draft):
    # Bypass the services, as an old import or a data migration might.
    ResponsibilityItem.objects.filter(contract=draft, activity__startswith="SMT").update(
        oem="A", ems="A"
    )
    DecisionRule.objects.filter(contract=draft, clause_ref="7.2").update(outcome="ems_decides")
    FlexBand.objects.filter(contract=draft, from_week=5).update(from_week=3)

    with pytest.raises(ValidationError) as exc:
        services.propose(by=world.buyer, contract=draft)

    messages = exc.value.messages
    assert (
        "PCB assembly / SMT and THT assembly: Exactly one side must be Accountable (A) for each activity."
        in messages
    )
    assert any(m.startswith("Rule 7.2 would make a worse case less restricted") for m in messages)
    assert any(m.startswith("Flex bands overlap") for m in messages)
    assert len(messages) == 3
    draft.refresh_from_db()
    assert draft.status == Contract.Status.DRAFT


def test_an_empty_matrix_blocks_the_proposal(world, draft):
    draft.matrix.all().delete()

    with pytest.raises(ValidationError, match="The responsibility matrix is empty"):
        services.propose(by=world.buyer, contract=draft)


def test_the_other_side_cannot_propose_a_draft_it_did_not_write(world, draft):
    with pytest.raises(PermissionDenied):
        services.propose(by=world.account_manager, contract=draft)
    draft.refresh_from_db()
    assert draft.status == Contract.Status.DRAFT


def test_propose_freezes_the_draft_and_notifies_the_other_side(world, draft, ems_planner):
    services.propose(by=world.buyer, contract=draft)

    draft.refresh_from_db()
    assert draft.status == Contract.Status.PROPOSED
    assert draft.proposed_by == world.buyer and draft.proposed_at is not None
    subject = "Manufacturing services agreement v1 was proposed for your review and signature"
    assert notified(world.account_manager, world.ours) == [subject]
    assert notified(world.ems_admin) == [subject]
    for user in (world.buyer, world.oem_admin, ems_planner, world.outsider):
        assert notified(user) == []
    with pytest.raises(ValidationError, match="Only a draft can be changed"):
        services.update_terms(by=world.buyer, contract=draft, title="Late edit")


def test_the_other_side_sends_a_proposal_back_and_signatures_are_cleared(world, draft):
    services.propose(by=world.buyer, contract=draft)
    services.sign(by=world.buyer, contract=draft)

    with pytest.raises(ValidationError) as exc:
        services.request_changes(by=world.account_manager, contract=draft, reason="   ")
    assert exc.value.message_dict == {"reason": ["Say what should change."]}
    with pytest.raises(PermissionDenied):
        services.request_changes(by=world.outsider, contract=draft, reason="No")

    services.request_changes(
        by=world.account_manager, contract=draft, reason="Frozen zone should be 6 weeks."
    )

    draft.refresh_from_db()
    assert draft.status == Contract.Status.DRAFT
    assert (draft.oem_signed_by, draft.oem_signed_at, draft.ems_signed_by, draft.ems_signed_at) == (
        None,
    ) * 4
    assert "Frozen zone should be 6 weeks." in draft.notes
    assert notified(world.buyer)[-1] == "Changes requested on Manufacturing services agreement v1"
    assert (
        notified(world.oem_admin)[-1] == "Changes requested on Manufacturing services agreement v1"
    )
    # Back in the drafting side's hands.
    services.update_terms(by=world.buyer, contract=draft, frozen_zone_weeks=6)
    with pytest.raises(ValidationError, match="Only a proposed version can be sent back"):
        services.request_changes(by=world.account_manager, contract=draft, reason="Again")


# --- Signing --------------------------------------------------------------------------------


def test_signatures_record_who_and_when_and_both_make_the_version_active(world, draft):
    services.propose(by=world.buyer, contract=draft)
    start = timezone.now()

    services.sign(by=world.account_manager, contract=draft)
    draft.refresh_from_db()
    assert draft.status == Contract.Status.PROPOSED
    assert (
        draft.ems_signed_by == world.account_manager
        and start <= draft.ems_signed_at <= timezone.now()
    )
    assert (draft.oem_signed_by, draft.oem_signed_at, draft.content_hash) == (None, None, "")
    with pytest.raises(ValidationError, match="already signed"):
        services.sign(by=world.ems_admin, contract=draft)

    services.sign(by=world.oem_admin, contract=draft)
    draft.refresh_from_db()
    assert draft.oem_signed_by == world.oem_admin and draft.oem_signed_at >= draft.ems_signed_at
    assert draft.status == Contract.Status.ACTIVE
    assert draft.activated_at >= draft.oem_signed_at
    assert len(draft.content_hash) == 64
    assert draft.content_hash == services.content_hash(draft)
    subject = "Manufacturing services agreement v1 is now active"
    for user in (world.buyer, world.oem_admin, world.account_manager, world.ems_admin):
        assert subject in notified(user, world.ours)
    assert notified(world.oem_viewer) == [] and notified(world.outsider) == []


def test_only_sign_roles_can_sign(world, draft, oem_quality, ems_planner):
    services.propose(by=world.buyer, contract=draft)

    for user in (ems_planner, world.oem_viewer, oem_quality, world.outsider):
        with pytest.raises(PermissionDenied):
            services.sign(by=user, contract=draft)

    draft.refresh_from_db()
    assert (draft.oem_signed_at, draft.ems_signed_at, draft.status) == (
        None,
        None,
        Contract.Status.PROPOSED,
    )


def test_a_draft_cannot_be_signed(world, draft):
    with pytest.raises(ValidationError, match="Only a proposed version can be signed"):
        services.sign(by=world.buyer, contract=draft)


def test_the_content_hash_covers_the_signed_content(world, active_contract):
    snapshot = services.content_snapshot(active_contract)

    assert set(snapshot) == {"partnership", "terms", "flex", "matrix", "rules"}
    assert snapshot["terms"]["effective_from"] == "2026-01-01"
    assert len(snapshot["matrix"]) == len(template_data.MATRIX)
    assert len(snapshot["rules"]) == len(template_data.RULES)
    # Tampering with the stored content (outside the services) shows in the hash.
    ResponsibilityItem.objects.filter(contract=active_contract).update(ems="RA")
    assert services.content_hash(active_contract) != active_contract.content_hash


# --- Active contracts are immutable ---------------------------------------------------------


def test_an_active_contract_cannot_be_edited(world, active_contract):
    contract = active_contract
    item = contract.matrix.first()
    rule = contract.rules.get(clause_ref="4.5")
    before = (services.content_snapshot(contract), contract.content_hash, contract.updated_at)
    edits = [
        lambda: services.update_terms(by=world.buyer, contract=contract, title="Sneaky"),
        lambda: services.save_matrix_item(
            by=world.buyer, contract=contract, item=item, oem="I", ems="RA"
        ),
        lambda: services.save_matrix_item(
            by=world.buyer, contract=contract, area="Logistics", activity="Extra", oem="A", ems="R"
        ),
        lambda: services.delete_matrix_item(by=world.buyer, item=item),
        lambda: services.save_rule(
            by=world.buyer,
            contract=contract,
            rule=DecisionRule(category="deviation", outcome="oem_approval", min_quantity=5),
        ),
        lambda: services.delete_rule(by=world.buyer, rule=rule),
        lambda: services.import_matrix_csv(
            by=world.buyer, contract=contract, data=b"area,activity,oem,ems\nX,Y,A,R\n"
        ),
        lambda: services.replace_flex_bands(by=world.buyer, contract=contract, bands=[]),
    ]
    rule.response_hours = 1  # an edited instance must not reach the database either
    edits.append(lambda: services.save_rule(by=world.buyer, contract=contract, rule=rule))

    for edit in edits:
        with pytest.raises(ValidationError, match="Only a draft can be changed"):
            edit()

    contract = Contract.objects.get(pk=contract.pk)
    assert (
        services.content_snapshot(contract),
        contract.content_hash,
        contract.updated_at,
    ) == before
    assert contract.status == Contract.Status.ACTIVE


def test_a_stale_draft_instance_cannot_change_a_signed_version(world, draft):
    """A page loaded the draft, then the version was proposed and signed elsewhere."""
    stale = Contract.objects.get(pk=draft.pk)
    item = ResponsibilityItem.objects.get(pk=draft.matrix.first().pk)
    activate(world, draft)
    signed = services.content_snapshot(draft)

    with pytest.raises(ValidationError, match="Only a draft can be changed"):
        services.update_terms(by=world.buyer, contract=stale, title="Sneaky")
    stale = Contract.objects.get(pk=draft.pk)
    stale.status = Contract.Status.DRAFT  # as the instance looked before it was proposed
    with pytest.raises(ValidationError, match="Only a draft can be changed"):
        services.save_matrix_item(by=world.buyer, contract=stale, item=item, oem="I", ems="RA")
    with pytest.raises(ValidationError, match="Only a draft can be changed"):
        services.save_matrix_item(
            by=world.buyer, contract=stale, area="Logistics", activity="Extra", oem="A", ems="R"
        )

    draft.refresh_from_db()
    assert draft.status == Contract.Status.ACTIVE
    assert draft.oem_signed_by == world.buyer and draft.ems_signed_by == world.account_manager
    assert services.content_snapshot(draft) == signed
    assert services.content_hash(draft) == draft.content_hash


# --- Versions -------------------------------------------------------------------------------


def test_a_new_version_copies_the_active_one_and_keeps_lineage(world, active_contract):
    v1 = active_contract
    v2 = services.create_draft(by=world.account_manager, partnership=world.ours)

    assert (v2.version, v2.status, v2.previous, v2.drafted_by) == (
        2,
        Contract.Status.DRAFT,
        v1,
        world.ems,
    )
    assert (v2.effective_from, v2.title, v2.currency) == (v1.effective_from, v1.title, v1.currency)
    assert (v2.oem_signed_at, v2.ems_signed_at, v2.content_hash) == (None, None, "")
    assert matrix_rows(v2) == matrix_rows(v1)
    assert rule_rows(v2) == rule_rows(v1)
    for related in ("matrix", "rules", "flex_bands"):
        old = list(getattr(v1, related).values_list("lineage", "pk"))
        new = list(getattr(v2, related).values_list("lineage", "pk"))
        assert [lineage for lineage, _pk in new] == [lineage for lineage, _pk in old]
        assert not {pk for _l, pk in new} & {pk for _l, pk in old}  # copies, not moves
    # v1 stays in force, untouched, until v2 is signed.
    v1.refresh_from_db()
    assert v1.status == Contract.Status.ACTIVE and services.content_hash(v1) == v1.content_hash
    assert services.compare(v1, v2) == {
        "terms": [],
        "flex": {"added": [], "removed": [], "changed": []},
        "matrix": {"added": [], "removed": [], "changed": []},
        "rules": {"added": [], "removed": [], "changed": []},
    }


def test_activating_a_new_version_supersedes_the_old_one(world, active_contract):
    v1 = active_contract
    v2 = services.create_draft(by=world.buyer, partnership=world.ours)
    services.update_terms(by=world.buyer, contract=v2, frozen_zone_weeks=6)

    activate(world, v2)

    v1.refresh_from_db()
    assert v1.status == Contract.Status.SUPERSEDED
    assert v2.status == Contract.Status.ACTIVE
    assert list(world.ours.contracts.filter(status=Contract.Status.ACTIVE)) == [v2]
    assert services.active_contract(world.ours) == v2
    assert v1.content_hash == services.content_hash(v1)  # the old signed content is kept
    v3 = services.create_draft(by=world.buyer, partnership=world.ours)
    assert (v3.version, v3.previous, v3.frozen_zone_weeks) == (3, v2, 6)


def test_compare_reports_what_changed_between_versions(world, active_contract):
    v1 = active_contract
    v2 = services.create_draft(by=world.buyer, partnership=world.ours)
    by = world.buyer
    services.update_terms(
        by=by, contract=v2, effective_until=dt.date(2028, 12, 31), frozen_zone_weeks=6
    )
    changed_item = v2.matrix.get(activity="Excess and obsolete inventory")
    services.save_matrix_item(by=by, contract=v2, item=changed_item, oem="a", ems="rc")
    removed_item = v2.matrix.get(activity="DFM/DFT review")
    services.delete_matrix_item(by=by, item=removed_item)
    added_item = services.save_matrix_item(
        by=by,
        contract=v2,
        area="Logistics",
        activity="Customs and export control",
        oem="A",
        ems="R",
    )
    changed_rule = v2.rules.get(clause_ref="4.6")
    changed_rule.min_delay_days, changed_rule.response_hours = 5, 48
    services.save_rule(by=by, contract=v2, rule=changed_rule)
    services.delete_rule(by=by, rule=v2.rules.get(clause_ref="10.1"))
    added_rule = services.save_rule(
        by=by,
        contract=v2,
        rule=DecisionRule(
            category="deviation",
            outcome="oem_approval",
            response_hours=8,
            if_safety_critical=True,
            clause_ref="9.5",
        ),
    )

    diff = services.compare(v1, v2)

    assert [(str(label), old, new) for label, old, new in diff["terms"]] == [
        ("effective until", None, dt.date(2028, 12, 31)),
        ("frozen zone (weeks)", 4, 6),
    ]
    assert [i.pk for i in diff["matrix"]["added"]] == [added_item.pk]
    assert [(i.activity, i.contract_id) for i in diff["matrix"]["removed"]] == [
        ("DFM/DFT review", v1.pk)
    ]
    [(old, new, changes)] = diff["matrix"]["changed"]
    assert (old.contract_id, new.pk) == (v1.pk, changed_item.pk)
    assert changes == [("ems", "R", "RC")]
    assert [r.pk for r in diff["rules"]["added"]] == [added_rule.pk]
    assert [r.clause_ref for r in diff["rules"]["removed"]] == ["10.1"]
    [(old, new, changes)] = diff["rules"]["changed"]
    assert (old.clause_ref, new.pk) == ("4.6", changed_rule.pk)
    assert changes == [("min_delay_days", 3, 5), ("response_hours", 24, 48)]
    assert diff["flex"] == {"added": [], "removed": [], "changed": []}


# --- Expiry ---------------------------------------------------------------------------------


def test_expire_contracts_marks_ended_ones(world, draft):
    services.update_terms(by=world.buyer, contract=draft, effective_until=dt.date(2026, 12, 31))
    activate(world, draft)
    last_day = dt.datetime(2026, 12, 31, 12, tzinfo=dt.UTC)

    assert services.expire_contracts(now=last_day) == 0
    draft.refresh_from_db()
    assert draft.status == Contract.Status.ACTIVE

    assert services.expire_contracts(now=last_day + dt.timedelta(days=1)) == 1
    draft.refresh_from_db()
    assert draft.status == Contract.Status.EXPIRED
    assert services.active_contract(world.ours) is None
    assert services.expire_contracts(now=last_day + dt.timedelta(days=2)) == 0


def test_expire_task_leaves_open_ended_and_future_contracts_alone(world, active_contract):
    other_buyer = member(world.other_oem, Role.BUYER)
    other_am = member(world.other_ems, Role.ACCOUNT_MANAGER)
    theirs = services.create_draft(by=other_buyer, partnership=world.theirs)
    services.update_terms(
        by=other_buyer,
        contract=theirs,
        effective_from=dt.date(2020, 1, 1),
        effective_until=timezone.localdate() - dt.timedelta(days=1),
    )
    services.propose(by=other_buyer, contract=theirs)
    services.sign(by=other_buyer, contract=theirs)
    services.sign(by=other_am, contract=theirs)

    assert tasks.expire_contracts() == 1  # the task is a thin wrapper, callable in-process

    theirs.refresh_from_db()
    active_contract.refresh_from_db()
    assert theirs.status == Contract.Status.EXPIRED
    assert active_contract.status == Contract.Status.ACTIVE  # no end date: runs until replaced


# --- E-mail through a real SMTP server ------------------------------------------------------


def recipients(sink):
    return sorted(m["To"] for m in sink.messages)


def subjects(sink):
    return {"".join(m["Subject"].splitlines()) for m in sink.messages}  # unfold long headers


@pytest.mark.django_db(transaction=True)
def test_proposal_and_activation_emails_arrive(world, draft, smtp_sink):
    services.propose(by=world.buyer, contract=draft)

    assert recipients(smtp_sink) == ["admin@ems.example", "am@ems.example"]
    assert subjects(smtp_sink) == {
        "[Partnership Portal] Manufacturing services agreement v1 was proposed for your review and signature"
    }
    for body in smtp_sink.bodies():
        assert f"{world.buyer} proposed version 1." in body
        assert body.strip().endswith(draft.get_absolute_url())  # a link to the version
    smtp_sink.messages.clear()

    sign_both(world, draft)

    assert recipients(smtp_sink) == [
        "admin@ems.example",
        "admin@oem.example",
        "am@ems.example",
        "buyer@oem.example",
    ]
    assert subjects(smtp_sink) == {
        "[Partnership Portal] Manufacturing services agreement v1 is now active"
    }


@pytest.mark.django_db(transaction=True)
def test_no_email_when_the_proposal_fails(world, smtp_sink):
    contract = services.create_draft(by=world.buyer, partnership=world.ours)

    with pytest.raises(ValidationError):
        services.propose(by=world.buyer, contract=contract)

    assert smtp_sink.messages == []
    assert not Notification.objects.exists()


def test_reschedule_limits_are_edited_copied_and_signed(world, client, draft):
    url = f"/partnerships/{world.ours.pk}/contracts/{draft.pk}/flex/"
    bands = list(draft.flex_bands.all())
    data = {"form-TOTAL_FORMS": len(bands), "form-INITIAL_FORMS": len(bands)}
    for n, band in enumerate(bands):
        data |= {
            f"form-{n}-id": band.pk,
            f"form-{n}-from_week": band.from_week,
            f"form-{n}-to_week": band.to_week or "",
            f"form-{n}-max_increase_pct": band.max_increase_pct,
            f"form-{n}-max_decrease_pct": band.max_decrease_pct,
            f"form-{n}-max_pull_in_weeks": band.max_pull_in_weeks
            if band.max_pull_in_weeks is not None
            else "",
            f"form-{n}-max_push_out_weeks": band.max_push_out_weeks
            if band.max_push_out_weeks is not None
            else "",
        }
    client.force_login(world.buyer)
    bad = {**data, "form-1-max_push_out_weeks": "-1"}
    response = client.post(url, bad)
    assert response.status_code == 400
    assert "max_push_out_weeks" in response.context["formset"].forms[1].errors
    data["form-1-max_push_out_weeks"] = 3
    assert client.post(url, data).status_code == 302
    band = draft.flex_bands.get(from_week=5)
    assert (band.max_pull_in_weeks, band.max_push_out_weeks) == (1, 3)
    # The limits are part of the signed content and of the next version.
    assert services.content_snapshot(draft)["flex"][1][-2:] == [1, 3]
    services.propose(by=world.buyer, contract=draft)
    services.sign(by=world.buyer, contract=draft)
    services.sign(by=world.account_manager, contract=draft)
    successor = services.create_draft(by=world.buyer, partnership=world.ours)
    copied = successor.flex_bands.get(from_week=5)
    assert (copied.max_pull_in_weeks, copied.max_push_out_weeks) == (1, 3)


def test_bands_without_reschedule_limits_keep_the_hash_they_were_signed_with(world, draft):
    band = draft.flex_bands.get(from_week=5)
    band.max_pull_in_weeks = band.max_push_out_weeks = None
    band.save()
    row = services.content_snapshot(draft)["flex"][1]
    assert row == [5, 8, "10.0", "10.0"]  # the shape contracts were signed with before


def test_drafts_supersession_and_expiry_leave_history(world, draft):
    # The template's rows were created with the draft, and say so in their history.
    item = draft.matrix.first()
    assert [h.history_type for h in item.history.all()] == ["+"]
    assert draft.flex_bands.first().history.count() == 1
    services.propose(by=world.buyer, contract=draft)
    services.sign(by=world.buyer, contract=draft)
    services.sign(by=world.account_manager, contract=draft)
    successor = services.create_draft(by=world.buyer, partnership=world.ours)
    assert successor.rules.first().history.count() == 1
    successor = services.update_terms(
        by=world.buyer, contract=successor, effective_from=dt.date(2026, 6, 1)
    )
    services.propose(by=world.buyer, contract=successor)
    services.sign(by=world.buyer, contract=successor)
    services.sign(by=world.account_manager, contract=successor)
    draft.refresh_from_db()
    assert draft.status == Contract.Status.SUPERSEDED
    assert draft.history.first().status == Contract.Status.SUPERSEDED
    Contract.objects.filter(pk=successor.pk).update(effective_until=dt.date(2026, 7, 1))
    assert services.expire_contracts(now=timezone.now().replace(year=2026, month=8)) == 1
    successor.refresh_from_db()
    assert successor.history.first().status == Contract.Status.EXPIRED
