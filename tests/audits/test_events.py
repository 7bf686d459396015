"""Every write of ``audits.services`` announces itself on the event path (issue #15): the events
each service emits, the webhook deliveries they make (every event of a finding is its
``finding.changed``, as every save of a finding was), the notifications their subscribers
send (unchanged in content) — and an edit that changes nothing emits, writes and records
nothing."""

import datetime as dt
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audits import services
from audits.models import Answer, Audit, Certificate, CorrectiveAction, Finding, KpiRecord
from integrations.models import WebhookDelivery, WebhookSubscription
from partnership import events
from partnership.models import Notification, Role
from tests.factories import EMSFactory, PartnershipFactory, member

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def names(seen):
    """``[(kind.action, object id, changed)…]`` of captured events."""
    return [(e.name, e.obj.pk, sorted(e.changed)) for e in seen]


@pytest.fixture
def hook(world):
    """The OEM's QMS listens to findings."""
    return WebhookSubscription.objects.create(
        organization=world.oem, url="https://qms.example/hook", events=["finding.changed"]
    )


def deliveries():
    return [
        (d.event, d.payload["action"], sorted(d.payload["changed"]), d.payload["object"]["id"])
        for d in WebhookDelivery.objects.order_by("pk")
    ]


def notices(subject_part):
    return sorted(
        Notification.objects.filter(subject__contains=subject_part).values_list(
            "user__email", "subject", "body", "url", "partnership_id"
        )
    )


EMS_SIDE = ["admin@ems.example", "am@ems.example", "quality@ems.example"]


def recipients(subject_part):
    return sorted(row[0] for row in notices(subject_part))


@pytest.fixture
def planned(world, oem_quality, ems_quality, process_template):
    return services.plan_audit(
        by=oem_quality,
        partnership=world.ours,
        template=process_template,
        kind="process",
        title="Process audit SMT line 2",
        planned_date=today() + timedelta(days=7),
    )


def first_question(audit):
    return audit.template.sections.first().questions.first()


# --- Audits --------------------------------------------------------------------------------


def test_planning_starting_issuing_and_closing_an_audit(
    world, oem_quality, ems_quality, process_template
):
    with events.capture() as seen:
        audit = services.plan_audit(
            by=oem_quality,
            partnership=world.ours,
            template=process_template,
            kind="process",
            title="Process audit SMT line 2",
            planned_date=dt.date(2031, 5, 6),
            team=[world.buyer],
        )
    assert names(seen) == [("audit.created", audit.pk, [])]
    assert (seen[0].by, seen[0].partnership_id) == (oem_quality, world.ours.pk)
    assert notices("Audit planned") == [
        (
            email,
            "Audit planned: Process audit SMT line 2 on 2031-05-06",
            "You can self-assess against the same checklist before the audit.",
            audit.get_absolute_url(),
            world.ours.pk,
        )
        for email in EMS_SIDE
    ]

    with events.capture() as seen:
        services.start_audit(by=oem_quality, audit=audit)
    assert names(seen) == [("audit.started", audit.pk, ["actual_date", "status"])]

    with events.capture() as seen:
        services.issue_report(by=oem_quality, audit=audit, summary="Good shape.")
    assert names(seen) == [
        ("audit.report_issued", audit.pk, ["report_issued_at", "status", "summary"])
    ]
    assert recipients("Audit report issued: Process audit SMT line 2") == EMS_SIDE
    assert notices("Audit report issued")[0][2] == "Grade —. Findings need your corrective actions."

    with events.capture() as seen:
        services.close_audit(by=oem_quality, audit=audit)
    assert names(seen) == [("audit.closed", audit.pk, ["closed_at", "status"])]


def test_each_answer_is_one_event_and_the_same_answer_again_is_none(
    world, process_audit, oem_quality, ems_quality
):
    question = first_question(process_audit)
    with events.capture() as seen:
        services.record_answer(
            by=oem_quality, audit=process_audit, question=question, score=8, notes="Log found"
        )
    # (One answer scores, but grades nothing yet: the grade waits for enough answers.)
    assert names(seen) == [("audit.answered", process_audit.pk, ["grade_reasons", "score_pct"])]
    assert (seen[0].data["question"], seen[0].data["side"]) == (question.pk, "oem")
    stored = Audit.objects.get(pk=process_audit.pk)
    assert (process_audit.score_pct, process_audit.grade) == (stored.score_pct, stored.grade)

    # The same score and notes again: no write, no history row, no event, no touch.
    answer = Answer.objects.get(side="oem")
    history, updated_at = answer.history.count(), stored.updated_at
    with events.capture() as seen:
        again = services.record_answer(
            by=oem_quality, audit=process_audit, question=question, score=8, notes="Log found"
        )
    assert seen == [] and again == answer
    assert answer.history.count() == history
    assert Audit.objects.get(pk=process_audit.pk).updated_at == updated_at

    # A new note on the same score: one event; the score did not move.
    with events.capture() as seen:
        services.record_answer(
            by=oem_quality, audit=process_audit, question=question, score=8, notes="Log checked"
        )
    assert names(seen) == [("audit.answered", process_audit.pk, [])]

    # The EMS's self-assessment marks the audit updated: one event, no score field.
    with events.capture() as seen:
        services.record_answer(by=ems_quality, audit=process_audit, question=question, score=10)
    assert names(seen) == [("audit.answered", process_audit.pk, [])]
    assert seen[0].data["side"] == "ems"
    assert Audit.objects.get(pk=process_audit.pk).updated_at > updated_at


def test_evidence_and_the_recommendation(world, process_audit, oem_quality):
    with events.capture() as seen:
        evidence = services.add_evidence(
            by=oem_quality,
            audit=process_audit,
            upload=SimpleUploadedFile("oven.jpg", b"jpeg", content_type="image/jpeg"),
        )
    assert names(seen) == [("audit.evidence_added", process_audit.pk, [])]
    assert seen[0].data["evidence"] == evidence.pk

    with events.capture() as seen:
        services.set_recommendation(
            by=oem_quality, audit=process_audit, recommendation="proceed", reason="Solid QMS"
        )
    assert names(seen) == [
        ("audit.changed", process_audit.pk, ["recommendation", "recommendation_reason"])
    ]
    history = process_audit.history.count()
    with events.capture() as seen:
        services.set_recommendation(
            by=oem_quality, audit=process_audit, recommendation="proceed", reason=" Solid QMS "
        )
    assert seen == [] and process_audit.history.count() == history


# --- Findings --------------------------------------------------------------------------------


def test_raising_a_finding_fires_its_webhook_and_tells_the_ems(
    world, hook, process_audit, oem_quality, ems_quality
):
    with events.capture() as seen:
        major = services.raise_finding(
            by=oem_quality, audit=process_audit, classification="major", description="No profile"
        )
    assert names(seen) == [("finding.created", major.pk, [])]
    assert deliveries() == [("finding.changed", "created", [], major.pk)]
    due = today() + timedelta(days=process_audit.response_days)
    assert notices("raised in") == [
        (
            email,
            f"Major nonconformity raised in {process_audit.title}: response due {due}",
            "No profile",
            major.get_absolute_url(),
            world.ours.pk,
        )
        for email in EMS_SIDE
    ]

    # An observation is announced (and sent to webhooks) too, but nobody is told.
    before = Notification.objects.count()
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="observation", description="Tidy"
    )
    assert deliveries()[-1] == ("finding.changed", "created", [], obs.pk)
    assert Notification.objects.count() == before


def test_a_retried_raise_with_the_same_external_id_records_nothing(
    world, hook, process_audit, oem_quality
):
    raise_ = dict(audit=process_audit, classification="minor", description="Label faded")
    first, created = services.raise_finding_once(by=oem_quality, external_id="QMS-9", **raise_)
    assert created
    counts = (
        Finding.objects.count(),
        WebhookDelivery.objects.count(),
        Notification.objects.count(),
    )
    with events.capture() as seen:
        again, created = services.raise_finding_once(
            by=world.buyer, external_id="QMS-9", **{**raise_, "description": "Other words"}
        )
        plain = services.raise_finding(by=world.buyer, external_id="QMS-9", **raise_)
    assert (again, created, plain) == (first, False, first)
    assert seen == []
    assert counts == (
        Finding.objects.count(),
        WebhookDelivery.objects.count(),
        Notification.objects.count(),
    )
    # The role first: a retry reveals nothing to whom may not raise.
    with pytest.raises(PermissionDenied):
        services.raise_finding_once(by=world.account_manager, external_id="QMS-9", **raise_)


def test_correcting_a_finding_and_a_correction_that_changes_nothing(
    world, hook, process_audit, oem_quality
):
    finding = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="observation", description="Tidy"
    )
    with events.capture() as seen:
        finding = services.update_finding(
            by=oem_quality, finding=finding, classification="minor", clause="7.1"
        )
    assert names(seen) == [
        ("finding.changed", finding.pk, ["classification", "clause", "response_due"])
    ]
    assert deliveries()[-1] == (
        "finding.changed",
        "changed",
        ["classification", "clause", "response_due"],
        finding.pk,
    )

    history, count = finding.history.count(), WebhookDelivery.objects.count()
    updated_at = finding.updated_at
    with events.capture() as seen:
        same = services.update_finding(
            by=oem_quality, finding=finding, classification="minor", clause="7.1"
        )
    assert seen == []
    assert (finding.history.count(), WebhookDelivery.objects.count()) == (history, count)
    assert Finding.objects.get(pk=finding.pk).updated_at == updated_at == same.updated_at


def test_the_8d_flow_announces_each_step_and_the_findings_status(
    world, hook, process_audit, oem_quality, ems_quality
):
    finding = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="major", description="No profile"
    )
    with events.capture() as seen:
        action = services.start_action(
            by=world.account_manager, finding=finding, owner=ems_quality, due_date=today()
        )
    assert names(seen) == [("corrective_action.created", action.pk, [])]
    assert seen[0].partnership_id == world.ours.pk

    with events.capture() as seen:
        for n in range(1, 8):
            action = services.complete_step(by=ems_quality, action=action, step=n, text=f"D{n}")
    assert names(seen) == [("corrective_action.step_completed", action.pk, ["steps"])] * 7
    assert [e.data["step"] for e in seen] == list(range(1, 8))

    with events.capture() as seen:
        services.submit_action(by=ems_quality, action=action)
    assert names(seen) == [
        ("corrective_action.submitted", action.pk, ["status"]),
        ("finding.action_submitted", finding.pk, ["status"]),
    ]
    assert deliveries()[-1] == ("finding.changed", "action_submitted", ["status"], finding.pk)
    assert notices("8D submitted") == [
        (
            email,
            "8D submitted for F1 Major nonconformity — please verify",
            "",
            finding.get_absolute_url(),
            world.ours.pk,
        )
        for email in ["buyer@oem.example", "quality@oem.example"]
    ]

    # Sent back: the action is open again, and so is the finding.
    with events.capture() as seen:
        services.verify_action(by=oem_quality, action=action, accept=False, note="  D4 thin ")
    assert names(seen) == [
        ("corrective_action.sent_back", action.pk, ["status", "verification_note"]),
        ("finding.action_sent_back", finding.pk, ["status"]),
    ]
    assert deliveries()[-1] == ("finding.changed", "action_sent_back", ["status"], finding.pk)
    assert notices("8D sent back") == [
        (
            "quality@ems.example",
            "F1 Major nonconformity: 8D sent back",
            "  D4 thin ",
            finding.get_absolute_url(),
            world.ours.pk,
        )
    ]

    action = CorrectiveAction.objects.get(pk=action.pk)
    services.submit_action(by=ems_quality, action=action)
    with events.capture() as seen:
        services.verify_action(by=oem_quality, action=action, accept=True)
    assert names(seen) == [
        (
            "corrective_action.verified",
            action.pk,
            ["status", "steps", "verification_note", "verified_at", "verified_by"],
        ),
        ("finding.closed", finding.pk, ["closed_at", "closed_by", "status"]),
    ]
    assert deliveries()[-1] == (
        "finding.changed",
        "closed",
        ["closed_at", "closed_by", "status"],
        finding.pk,
    )
    assert recipients("F1 Major nonconformity closed") == ["quality@ems.example"]
    # Every save of the finding made a finding.changed delivery, as post_save did.
    assert [a for _e, a, _c, _id in deliveries()] == [
        "created",
        "action_submitted",
        "action_sent_back",
        "action_submitted",
        "closed",
    ]


def test_closing_an_observation_once(world, hook, process_audit, oem_quality):
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="observation", description="Tidy"
    )
    with events.capture() as seen:
        services.close_observation(by=oem_quality, finding=obs)
    assert names(seen) == [("finding.closed", obs.pk, ["closed_at", "closed_by", "status"])]
    assert deliveries()[-1][:2] == ("finding.changed", "closed")
    history = obs.history.count()
    with events.capture() as seen:
        services.close_observation(by=oem_quality, finding=obs)
    assert seen == [] and obs.history.count() == history


def test_overdue_reminders_are_one_batch_of_events(world, process_audit, oem_quality, ems_quality):
    finding = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="major", description="No profile"
    )
    action = services.start_action(
        by=world.account_manager, finding=finding, owner=ems_quality, due_date=today()
    )
    with events.capture() as seen:
        assert services.remind_overdue_actions(now=timezone.now() + timedelta(days=2)) == 1
    assert names(seen) == [("corrective_action.reminded", action.pk, ["last_reminded_at"])]
    assert recipients(f"Overdue 8D: {finding} was due {action.due_date}") == [
        "am@ems.example",
        "quality@ems.example",
    ]
    with events.capture() as seen:
        assert services.remind_overdue_actions(now=timezone.now() + timedelta(days=2)) == 0
    assert seen == []


# --- Certificates ----------------------------------------------------------------------------


@pytest.fixture
def second_partnership(world):
    """The EMS's second partnership (another OEM), and an ended one that hears nothing."""
    other = PartnershipFactory(ems=world.ems)
    member(other.oem, Role.QUALITY, email="quality@other-oem.example")
    PartnershipFactory(ems=world.ems, status="ended")
    return other


def save(by, organization, **fields):
    return services.save_certificate(by=by, organization=organization, **fields)


def test_a_certificate_is_an_event_in_each_partnership_of_its_organisation(
    world, ems_quality, oem_quality, second_partnership
):
    until = today() + timedelta(days=400)
    with events.capture() as seen:
        cert = save(
            ems_quality,
            world.ems,
            standard="iso9001",
            number="QMS-4711",
            issuer="TÜV",
            valid_from=until - timedelta(days=1000),
            valid_until=until,
        )
    assert names(seen) == [("certificate.created", cert.pk, [])] * 2
    assert [e.partnership_id for e in seen] == [world.ours.pk, second_partnership.pk]

    with events.capture() as seen:
        save(ems_quality, world.ems, certificate=cert, issuer="DEKRA")
    assert names(seen) == [("certificate.changed", cert.pk, ["issuer"])] * 2

    history = cert.history.count()
    with events.capture() as seen:
        save(ems_quality, world.ems, certificate=cert, issuer="DEKRA", number="QMS-4711")
    assert seen == [] and cert.history.count() == history


def test_expiry_warnings_and_expiry_are_told_once_per_person(
    world, ems_quality, oem_quality, second_partnership
):
    until = today() + timedelta(days=30)
    cert = save(
        ems_quality,
        world.ems,
        standard="iso9001",
        number="QMS-4711",
        issuer="TÜV",
        valid_from=until - timedelta(days=1000),
        valid_until=until,
    )
    with events.capture() as seen:
        assert services.check_certificates(today=today())["warned"] == 1
    assert names(seen) == [("certificate.expiry_warned", cert.pk, [])] * 2
    assert [(e.partnership_id, e.data["days"], e.data["thresholds"]) for e in seen] == [
        (world.ours.pk, 30, [60, 30]),
        (second_partnership.pk, 30, [60, 30]),
    ]
    subject = f"ISO 9001 QMS-4711 of {world.ems.name} expires in 30 days ({until})"
    assert sorted((row[0], row[4]) for row in notices(subject)) == [
        ("admin@ems.example", world.ours.pk),
        ("quality@ems.example", world.ours.pk),
        ("quality@oem.example", world.ours.pk),
        ("quality@other-oem.example", second_partnership.pk),
    ]
    assert {row[3] for row in notices(subject) if row[4] == world.ours.pk} == {
        f"/partnerships/{world.ours.pk}/scorecard/"
    }

    history = cert.history.count()
    with events.capture() as seen:
        assert services.check_certificates(today=until + timedelta(days=1))["expired"] == 1
    assert names(seen) == [("certificate.expired", cert.pk, ["expired"])] * 2
    assert cert.history.count() == history + 1  # one row, not one per partnership
    expired = f"Certificate expired: ISO 9001 QMS-4711 of {world.ems.name}"
    assert len(notices(expired)) == 4
    with events.capture() as seen:
        services.check_certificates(today=until + timedelta(days=2))
    assert seen == []


def test_an_organisation_without_partnerships_announces_nothing(world):
    lonely = EMSFactory()
    admin = member(lonely, Role.ADMIN)
    with events.capture() as seen:
        cert = save(
            admin,
            lonely,
            standard="iso9001",
            number="Q-1",
            issuer="TÜV",
            valid_from=dt.date(2025, 1, 1),
            valid_until=dt.date(2031, 1, 1),
        )
    assert seen == [] and Certificate.objects.get() == cert
    assert cert.history.count() == 1


# --- KPIs ------------------------------------------------------------------------------------


def test_kpis_are_created_changed_and_left_alone(world):
    month = today().replace(day=1)
    with events.capture() as seen:
        record = services.save_kpi(
            by=world.account_manager, partnership=world.ours, month=month, lines_due=10
        )
    assert names(seen) == [("kpi.created", record.pk, [])]
    with events.capture() as seen:
        services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_on_time=9)
    assert names(seen) == [("kpi.changed", record.pk, ["lines_on_time"])]
    history, updated_at = record.history.count(), KpiRecord.objects.get().updated_at
    with events.capture() as seen:
        services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_on_time=9)
    assert seen == [] and record.history.count() == history
    assert KpiRecord.objects.get().updated_at == updated_at


# --- Through the API -------------------------------------------------------------------------


def api(client, user):
    from partnership.models import ApiToken

    _token, key = ApiToken.issue(user, "qms")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def test_every_api_write_path_of_findings_fires_the_webhook_and_unchanged_rows_do_not(
    world, client, hook, process_audit
):
    api(client, world.buyer)
    body = {"audit": process_audit.pk, "classification": "minor", "description": "Label faded"}
    created = client.post("/api/v1/findings/", {**body, "external_id": "A"}, "application/json")
    retried = client.post("/api/v1/findings/", {**body, "external_id": "A"}, "application/json")
    assert (created.status_code, retried.status_code) == (201, 200)
    put = client.put(
        "/api/v1/findings/by-external-id/B/",
        {"partnership": world.ours.pk, **body},
        "application/json",
    )
    assert put.status_code == 201, put.content
    bulk = client.post(
        "/api/v1/findings/bulk-upsert/",
        {
            "partnership": world.ours.pk,
            "items": [
                {"external_id": "A", "description": "Label faded"},  # unchanged
                {"external_id": "B", "description": "Label missing"},
                {"external_id": "C", **body},
            ],
        },
        "application/json",
    )
    assert bulk.status_code == 200, bulk.content
    assert [i["result"] for i in bulk.json()["items"]] == ["unchanged", "updated", "created"]
    ids = dict(Finding.objects.values_list("external_id", "pk"))
    assert deliveries() == [
        ("finding.changed", "created", [], ids["A"]),
        ("finding.changed", "created", [], ids["B"]),
        ("finding.changed", "changed", ["description"], ids["B"]),
        ("finding.changed", "created", [], ids["C"]),
    ]
