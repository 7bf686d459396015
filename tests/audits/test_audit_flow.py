"""An audit from plan to closure through the services: who may do what, the two answer columns,
findings and their 8D actions, template versions, overdue reminders, KPIs and the scorecard."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import ProtectedError
from django.utils import timezone

from audits import services
from audits.models import (
    Answer,
    Audit,
    AuditTemplate,
    CorrectiveAction,
    Evidence,
    Finding,
    KpiRecord,
    TemplateQuestion,
    TemplateSection,
)
from partnership.models import Notification, Role
from tests.factories import member

pytestmark = pytest.mark.django_db

MAJOR, MINOR, OBSERVATION = (c.value for c in Finding.Classification)


def questions(template):
    return list(
        TemplateQuestion.objects.filter(section__template=template).order_by(
            "section__position", "position"
        )
    )


def question(template, code):
    return TemplateQuestion.objects.get(section__template=template, code=code)


def answer_all(audit, by, points=10, **overrides):
    """Score every question of the audit's checklist; ``overrides``: {"6_2_1": 4}."""
    codes = {k.replace("_", "."): v for k, v in overrides.items()}
    for q in questions(audit.template):
        services.record_answer(by=by, audit=audit, question=q, score=codes.get(q.code, points))
    audit.refresh_from_db()
    return audit


def notified(subject_part):
    return set(
        Notification.objects.filter(subject__contains=subject_part).values_list(
            "user__email", flat=True
        )
    )


def today():
    return timezone.localdate()


@pytest.fixture
def ems_viewer(world):
    return member(world.ems, Role.VIEWER, email="viewer@ems.example")


@pytest.fixture
def finding(process_audit, oem_quality):
    return services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification=MAJOR,
        clause="6.2.1",
        description="Reflow profile not verified after the oven was serviced.",
    )


@pytest.fixture
def action(finding, world, ems_quality):
    return services.start_action(
        by=world.account_manager, finding=finding, owner=ems_quality, due_date=today()
    )


def complete(action, by, steps=range(1, 8)):
    for n in steps:
        action = services.complete_step(by=by, action=action, step=n, text=f"Done D{n}")
    return action


# --- Planning and starting ---------------------------------------------------------------------


def plan(by, partnership, template, **kwargs):
    return services.plan_audit(
        by=by,
        partnership=partnership,
        template=template,
        kind="process",
        title=kwargs.pop("title", "Process audit SMT line 2"),
        planned_date=kwargs.pop("planned_date", today() + timedelta(days=14)),
        **kwargs,
    )


@pytest.mark.parametrize("who", ["buyer", "oem_admin", "oem_quality"])
def test_oem_auditors_plan_an_audit_and_the_ems_hears_of_it(
    world, oem_quality, ems_quality, process_template, who
):
    by = oem_quality if who == "oem_quality" else getattr(world, who)

    audit = plan(by, world.ours, process_template, team=[world.buyer, world.account_manager])

    assert (audit.status, audit.lead_auditor, audit.template) == (
        Audit.Status.PLANNED,
        by,
        process_template,
    )
    assert set(audit.team.all()) == {world.buyer, world.account_manager}
    assert notified("Audit planned: Process audit SMT line 2") == {
        "quality@ems.example",
        "am@ems.example",
        "admin@ems.example",
    }


@pytest.mark.parametrize("who", ["oem_viewer", "account_manager", "ems_admin", "outsider"])
def test_only_oem_auditors_plan(world, ems_quality, process_template, who):
    with pytest.raises(PermissionDenied):
        plan(getattr(world, who), world.ours, process_template)
    with pytest.raises(PermissionDenied):
        plan(ems_quality, world.ours, process_template)
    assert not Audit.objects.exists()


def test_the_team_must_belong_to_either_side_of_the_partnership(
    world, oem_quality, process_template
):
    stranger = member(world.other_ems, Role.QUALITY)
    with pytest.raises(ValidationError, match="members of either side"):
        plan(oem_quality, world.ours, process_template, team=[world.buyer, stranger])
    with pytest.raises(ValidationError, match="members of either side"):
        plan(oem_quality, world.ours, process_template, lead_auditor=world.outsider)
    assert not Audit.objects.exists()

    audit = plan(oem_quality, world.ours, process_template, lead_auditor=world.buyer)
    assert audit.lead_auditor == world.buyer


def test_starting_an_audit(world, oem_quality, process_template):
    audit = plan(oem_quality, world.ours, process_template)
    with pytest.raises(PermissionDenied):
        services.start_audit(by=world.account_manager, audit=audit)

    services.start_audit(by=oem_quality, audit=audit)

    audit.refresh_from_db()
    assert (audit.status, audit.actual_date) == (Audit.Status.IN_PROGRESS, today())
    with pytest.raises(ValidationError, match="Only a planned audit"):
        services.start_audit(by=oem_quality, audit=audit)


# --- Answers: the OEM's audit and the EMS's self-assessment ------------------------------------


def test_full_marks_is_grade_a(process_audit, oem_quality):
    audit = answer_all(process_audit, oem_quality)
    assert (audit.score_pct, audit.grade, audit.grade_reasons) == (100, "A", [])
    assert Answer.objects.filter(audit=audit, side="oem").count() == 19


def test_the_stored_grade_follows_the_downgrade_rules(process_audit, oem_quality):
    audit = answer_all(process_audit, oem_quality, **{"6_2_1": 4})

    assert (audit.score_pct, audit.grade) == (Decimal("96.8"), "B")  # 184 / 190
    assert audit.grade_reasons == ["Downgraded to B: starred question 6.2.1 scored 4."]

    services.record_answer(
        by=oem_quality, audit=audit, question=question(audit.template, "6.2.1"), score=10
    )
    audit.refresh_from_db()
    assert (audit.score_pct, audit.grade, audit.grade_reasons) == (100, "A", [])


def test_the_grade_waits_for_two_thirds_of_the_answers(process_audit, oem_quality):
    qs = questions(process_audit.template)  # 19 questions: 13 are two thirds (12.67)
    for q in qs[:12]:
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=10)
    process_audit.refresh_from_db()
    assert (process_audit.score_pct, process_audit.grade) == (100, "")
    assert process_audit.grade_reasons == [
        "Only 12 of 19 questions answered; at least two thirds are needed for a grade."
    ]

    services.record_answer(by=oem_quality, audit=process_audit, question=qs[12], score=10)
    process_audit.refresh_from_db()
    assert process_audit.grade == "A"


def test_the_oem_scores_only_an_audit_in_progress(world, oem_quality, process_template):
    audit = plan(oem_quality, world.ours, process_template)
    q = questions(process_template)[0]
    with pytest.raises(ValidationError, match="Start the audit"):
        services.record_answer(by=oem_quality, audit=audit, question=q, score=10)

    services.start_audit(by=oem_quality, audit=audit)
    answer = services.record_answer(by=world.buyer, audit=audit, question=q, score=8)
    assert (answer.side, answer.score, answer.answered_by) == ("oem", 8, world.buyer)

    services.issue_report(by=oem_quality, audit=audit)
    with pytest.raises(ValidationError, match="Start the audit"):
        services.record_answer(by=oem_quality, audit=audit, question=q, score=10)
    assert Answer.objects.get(audit=audit, question=q).score == 8


def test_answering_again_replaces_the_answer(process_audit, oem_quality, world):
    q = questions(process_audit.template)[0]
    services.record_answer(by=oem_quality, audit=process_audit, question=q, score=4)
    services.record_answer(by=world.buyer, audit=process_audit, question=q, score=6, notes="Re")

    answer = Answer.objects.get(audit=process_audit, question=q)
    assert (answer.score, answer.notes, answer.answered_by) == (6, "Re", world.buyer)


@pytest.mark.parametrize("points", [5, 1, 11, -4, 100])
def test_scores_outside_the_template_scale_are_rejected(process_audit, oem_quality, points):
    with pytest.raises(ValidationError, match="Use one of the scores 0, 4, 6, 8, 10"):
        services.record_answer(
            by=oem_quality,
            audit=process_audit,
            question=questions(process_audit.template)[0],
            score=points,
        )
    assert not Answer.objects.exists()


def test_the_scale_is_the_templates_own(world, oem_quality, iso_template):
    audit = services.start_audit(by=oem_quality, audit=plan(oem_quality, world.ours, iso_template))
    q = questions(iso_template)[0]
    services.record_answer(by=oem_quality, audit=audit, question=q, score=5)
    with pytest.raises(ValidationError):
        services.record_answer(by=oem_quality, audit=audit, question=q, score=8)
    assert Answer.objects.get(audit=audit, question=q).score == 5


def test_not_applicable_is_an_empty_score(process_audit, oem_quality):
    qs = questions(process_audit.template)
    for q in qs[:-1]:
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=10)
    services.record_answer(by=oem_quality, audit=process_audit, question=qs[-1], score=None)

    process_audit.refresh_from_db()
    assert (process_audit.score_pct, process_audit.grade) == (100, "A")
    assert services.compute_score(process_audit).answered == 18


def test_a_question_from_another_checklist_is_rejected(process_audit, oem_quality, iso_template):
    with pytest.raises(ValidationError, match="not part of the audit's checklist"):
        services.record_answer(
            by=oem_quality,
            audit=process_audit,
            question=questions(iso_template)[0],
            score=10,
        )
    assert not Answer.objects.exists()


def test_the_ems_self_assesses_in_its_own_column(process_audit, oem_quality, ems_quality, world):
    audit = answer_all(process_audit, oem_quality, **{"6_5_1": 0})
    assert audit.grade == "C"
    graded = (audit.score_pct, audit.grade, audit.grade_reasons)

    # The EMS gives itself full marks everywhere: its column changes, the OEM's does not.
    for n, q in enumerate(questions(audit.template)):
        by = ems_quality if n % 2 else world.account_manager
        answer = services.record_answer(by=by, audit=audit, question=q, score=10)
        assert answer.side == "ems"

    audit.refresh_from_db()
    assert (audit.score_pct, audit.grade, audit.grade_reasons) == graded
    assert Answer.objects.filter(audit=audit, side="oem", score=0).count() == 1
    assert Answer.objects.filter(audit=audit, side="ems").count() == 19
    assert not Answer.objects.filter(audit=audit, side="ems").exclude(score=10).exists()
    assert services.compute_score(audit, "ems").grade == "A"
    assert services.compute_score(audit, "oem").grade == "C"


def test_the_ems_self_assesses_before_the_audit_but_not_after_the_report(
    world, oem_quality, ems_quality, process_template
):
    audit = plan(oem_quality, world.ours, process_template)
    q = questions(process_template)[0]

    answer = services.record_answer(by=ems_quality, audit=audit, question=q, score=8)
    assert (answer.side, answer.score) == ("ems", 8)
    audit.refresh_from_db()
    assert (audit.score_pct, audit.grade) == (None, "")

    services.start_audit(by=oem_quality, audit=audit)
    services.issue_report(by=oem_quality, audit=audit)
    with pytest.raises(ValidationError, match="self-assessment is closed"):
        services.record_answer(by=ems_quality, audit=audit, question=q, score=10)
    assert Answer.objects.get(audit=audit, side="ems").score == 8


@pytest.mark.parametrize("who", ["oem_viewer", "ems_viewer", "outsider", "stranger"])
def test_viewers_and_outsiders_cannot_answer(world, ems_viewer, process_audit, who):
    by = {
        "oem_viewer": world.oem_viewer,
        "ems_viewer": ems_viewer,
        "outsider": world.outsider,
        "stranger": member(world.other_ems, Role.QUALITY),
    }[who]
    with pytest.raises(PermissionDenied):
        services.record_answer(
            by=by, audit=process_audit, question=questions(process_audit.template)[0], score=10
        )
    assert not Answer.objects.exists()


# --- Evidence ----------------------------------------------------------------------------------


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(name="aoi-report.pdf", content=b"%PDF-1.4 evidence", size=None):
    f = SimpleUploadedFile(name, content)
    if size is not None:
        f.size = size
    return f


def test_evidence_from_either_side(media, process_audit, oem_quality, ems_quality):
    q = questions(process_audit.template)[0]
    photo = services.add_evidence(
        by=oem_quality, audit=process_audit, upload=upload("line2.JPG"), question=q, caption="AOI"
    )
    report = services.add_evidence(
        by=ems_quality, audit=process_audit, upload=upload("../../etc/report.pdf")
    )

    assert (photo.name, photo.question, photo.uploaded_by) == ("line2.JPG", q, oem_quality)
    assert report.name == "report.pdf"
    assert report.file.name.startswith("evidence/") and ".." not in report.file.name
    assert (media / report.file.name).read_bytes() == b"%PDF-1.4 evidence"


def test_evidence_up_to_15_mb(media, process_audit, oem_quality):
    limit = services.MAX_EVIDENCE_BYTES
    assert limit == 15 * 1024 * 1024
    services.add_evidence(by=oem_quality, audit=process_audit, upload=upload(size=limit))

    with pytest.raises(ValidationError, match="larger than 15 MB"):
        services.add_evidence(by=oem_quality, audit=process_audit, upload=upload(size=limit + 1))
    assert Evidence.objects.count() == 1


@pytest.mark.parametrize("name", ["setup.exe", "macro.xlsm", "report.pdf.sh", "noextension"])
def test_evidence_of_other_kinds_is_rejected(media, process_audit, oem_quality, name):
    with pytest.raises(ValidationError, match="Photos, PDFs"):
        services.add_evidence(by=oem_quality, audit=process_audit, upload=upload(name))
    assert not Evidence.objects.exists()


def test_evidence_rules_for_people_and_questions(
    media, world, ems_viewer, process_audit, oem_quality, iso_template
):
    for by in (world.oem_viewer, ems_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.add_evidence(by=by, audit=process_audit, upload=upload())
    with pytest.raises(ValidationError, match="not part of the audit's checklist"):
        services.add_evidence(
            by=oem_quality,
            audit=process_audit,
            upload=upload(),
            question=questions(iso_template)[0],
        )
    assert not Evidence.objects.exists()


# --- Findings ----------------------------------------------------------------------------------


def test_a_finding_gets_a_response_date_and_the_ems_is_told(
    world, oem_quality, ems_quality, process_template
):
    audit = plan(oem_quality, world.ours, process_template, response_days=10)
    services.start_audit(by=oem_quality, audit=audit)

    major = services.raise_finding(
        by=oem_quality, audit=audit, classification=MAJOR, description="No reflow profile"
    )
    minor = services.raise_finding(
        by=world.buyer, audit=audit, classification=MINOR, description="Label faded"
    )

    assert (major.number, minor.number) == (1, 2)
    assert major.response_due == minor.response_due == today() + timedelta(days=10)
    assert (major.status, major.raised_by) == (Finding.Status.OPEN, oem_quality)
    ems_side = {"quality@ems.example", "am@ems.example", "admin@ems.example"}
    due = today() + timedelta(days=10)
    assert notified(f"Major nonconformity raised in {audit.title}: response due {due}") == ems_side
    assert notified(f"Minor nonconformity raised in {audit.title}: response due {due}") == ems_side


def test_an_observation_needs_no_response(process_audit, oem_quality):
    notices = Notification.objects.count()
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy up"
    )
    assert (obs.response_due, obs.needs_action) == (None, False)
    assert Notification.objects.count() == notices


def test_only_oem_auditors_raise_findings(world, ems_quality, process_audit):
    for by in (world.account_manager, ems_quality, world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.raise_finding(
                by=by, audit=process_audit, classification=MINOR, description="x"
            )
    assert not Finding.objects.exists()


def test_findings_belong_to_an_audit_that_has_started(world, oem_quality, process_template):
    audit = plan(oem_quality, world.ours, process_template)
    with pytest.raises(ValidationError, match="during the audit"):
        services.raise_finding(by=oem_quality, audit=audit, classification=MINOR, description="x")


def test_a_finding_needs_a_valid_class(process_audit, oem_quality):
    with pytest.raises(ValidationError):
        services.raise_finding(
            by=oem_quality, audit=process_audit, classification="critical", description="x"
        )
    assert not Finding.objects.exists()


# --- Corrective actions (8D) -------------------------------------------------------------------


def test_the_ems_starts_a_corrective_action(finding, world, ems_quality):
    action = services.start_action(
        by=world.account_manager,
        finding=finding,
        owner=ems_quality,
        due_date=today() + timedelta(days=7),
    )
    assert (action.owner, action.status, action.next_step()) == (
        ems_quality,
        CorrectiveAction.Status.OPEN,
        1,
    )
    with pytest.raises(ValidationError, match="already has a corrective action"):
        services.start_action(
            by=world.account_manager, finding=finding, owner=ems_quality, due_date=today()
        )


def test_only_the_ems_starts_an_action(finding, world, ems_viewer, oem_quality, ems_quality):
    for by in (oem_quality, world.buyer, world.oem_admin, ems_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.start_action(by=by, finding=finding, owner=ems_quality, due_date=today())
    assert not CorrectiveAction.objects.exists()


def test_the_action_owner_is_an_ems_member(finding, world, oem_quality):
    for owner in (oem_quality, world.buyer, world.outsider, member(world.other_ems)):
        with pytest.raises(ValidationError, match="owner must be a member of the EMS"):
            services.start_action(
                by=world.account_manager, finding=finding, owner=owner, due_date=today()
            )
    assert not CorrectiveAction.objects.exists()


def test_the_due_date_is_not_in_the_past(finding, world, ems_quality):
    with pytest.raises(ValidationError, match="in the past"):
        services.start_action(
            by=world.account_manager,
            finding=finding,
            owner=ems_quality,
            due_date=today() - timedelta(days=1),
        )
    assert services.start_action(
        by=world.account_manager, finding=finding, owner=ems_quality, due_date=today()
    )


def test_observations_need_no_action(process_audit, oem_quality, world, ems_quality):
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy up"
    )
    with pytest.raises(ValidationError, match="Observations need no corrective action"):
        services.start_action(
            by=world.account_manager, finding=obs, owner=ems_quality, due_date=today()
        )


def test_8d_steps_go_in_order(action, ems_quality):
    with pytest.raises(ValidationError, match="Complete D1 Team first"):
        services.complete_step(by=ems_quality, action=action, step=2, text="Problem")

    action = services.complete_step(by=ems_quality, action=action, step=1, text="  Team  ")
    assert action.step(1)["text"] == "Team" and action.step(1)["done_by"] == ems_quality.pk
    assert action.next_step() == 2
    with pytest.raises(ValidationError, match="Complete D2 Problem description first"):
        services.complete_step(by=ems_quality, action=action, step=3, text="Containment")
    with pytest.raises(ValidationError, match="Describe what was done"):
        services.complete_step(by=ems_quality, action=action, step=2, text="   ")


@pytest.mark.parametrize("step", [0, 8, 9])
def test_the_ems_cannot_complete_d8_or_unknown_steps(action, ems_quality, step):
    complete(action, ems_quality)
    with pytest.raises(ValidationError, match="D8 is the OEM's verification"):
        services.complete_step(by=ems_quality, action=action, step=step, text="We are done")
    action.refresh_from_db()
    assert "8" not in action.steps


def test_the_oem_does_not_fill_in_the_ems_8d(action, oem_quality, world):
    for by in (oem_quality, world.buyer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.complete_step(by=by, action=action, step=1, text="Team")


def test_submitting_needs_d1_to_d7(action, ems_quality, oem_quality, world):
    action = complete(action, ems_quality, range(1, 7))
    with pytest.raises(ValidationError, match="Complete D1 to D7"):
        services.submit_action(by=ems_quality, action=action)

    action = complete(action, ems_quality, [7])
    action = services.submit_action(by=world.account_manager, action=action)

    assert action.status == CorrectiveAction.Status.SUBMITTED
    assert Finding.objects.get(pk=action.finding_id).status == Finding.Status.ACTION_SUBMITTED
    assert notified("8D submitted for F1") == {"quality@oem.example", "buyer@oem.example"}
    with pytest.raises(ValidationError, match="already submitted"):
        services.submit_action(by=ems_quality, action=action)
    with pytest.raises(ValidationError, match="with the OEM for verification"):
        services.complete_step(by=ems_quality, action=action, step=4, text="Changed my mind")


def test_the_oem_verifies_and_the_finding_closes(action, ems_quality, oem_quality):
    action = services.submit_action(by=ems_quality, action=complete(action, ems_quality))

    action = services.verify_action(by=oem_quality, action=action, accept=True)

    assert (action.status, action.verified_by) == (CorrectiveAction.Status.VERIFIED, oem_quality)
    assert action.step(8)["text"] == "Verified effective."
    finding = Finding.objects.get(pk=action.finding_id)
    assert (finding.status, finding.closed_by) == (Finding.Status.CLOSED, oem_quality)
    assert finding.closed_at is not None
    assert notified("F1 Major nonconformity closed") == {"quality@ems.example"}
    with pytest.raises(ValidationError, match="for verification or closed"):
        services.complete_step(by=ems_quality, action=action, step=7, text="More")


def test_sending_an_8d_back_needs_a_note_and_reopens_it(action, ems_quality, oem_quality):
    action = services.submit_action(by=ems_quality, action=complete(action, ems_quality))
    with pytest.raises(ValidationError, match="Say what is missing"):
        services.verify_action(by=oem_quality, action=action, accept=False, note="  ")
    assert CorrectiveAction.objects.get(pk=action.pk).status == CorrectiveAction.Status.SUBMITTED

    action = services.verify_action(
        by=oem_quality, action=action, accept=False, note="D4: escape point missing"
    )

    assert (action.status, action.verification_note) == (
        CorrectiveAction.Status.OPEN,
        "D4: escape point missing",
    )
    finding = Finding.objects.get(pk=action.finding_id)
    assert (finding.status, finding.closed_at) == (Finding.Status.OPEN, None)
    assert notified("F1 Major nonconformity: 8D sent back") == {"quality@ems.example"}
    with pytest.raises(ValidationError, match="Only a submitted action"):
        services.verify_action(by=oem_quality, action=action, accept=True)

    # Reworked and resubmitted, then accepted.
    action = services.complete_step(by=ems_quality, action=action, step=4, text="Escape: AOI")
    action = services.submit_action(by=ems_quality, action=action)
    action = services.verify_action(by=oem_quality, action=action, accept=True, note="OK")
    assert action.status == CorrectiveAction.Status.VERIFIED


def test_the_ems_cannot_close_its_own_findings(
    action, process_audit, world, ems_quality, oem_quality
):
    action = services.submit_action(by=ems_quality, action=complete(action, ems_quality))
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy up"
    )
    for by in (ems_quality, world.account_manager, world.ems_admin):
        with pytest.raises(PermissionDenied):
            services.verify_action(by=by, action=action, accept=True)
        with pytest.raises(PermissionDenied):
            services.close_observation(by=by, finding=obs)
    with pytest.raises(PermissionDenied):
        services.verify_action(by=world.oem_viewer, action=action, accept=True)

    assert set(Finding.objects.values_list("status", flat=True)) == {
        Finding.Status.ACTION_SUBMITTED,
        Finding.Status.OPEN,
    }
    assert CorrectiveAction.objects.get().status == CorrectiveAction.Status.SUBMITTED


def test_observations_are_closed_by_the_oem_directly(finding, process_audit, oem_quality):
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy up"
    )
    obs = services.close_observation(by=oem_quality, finding=obs)
    assert (obs.status, obs.closed_by) == (Finding.Status.CLOSED, oem_quality)

    with pytest.raises(ValidationError, match="close through a verified corrective action"):
        services.close_observation(by=oem_quality, finding=finding)


# --- Closing the audit -------------------------------------------------------------------------


def test_an_audit_closes_only_when_every_finding_is_closed(
    process_audit, oem_quality, ems_quality, world, action
):
    obs = services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy up"
    )
    with pytest.raises(ValidationError, match="Issue the report"):
        services.close_audit(by=oem_quality, audit=process_audit)
    services.issue_report(by=oem_quality, audit=process_audit, summary="Two findings")
    assert notified(f"Audit report issued: {process_audit.title}") == {
        "quality@ems.example",
        "am@ems.example",
        "admin@ems.example",
    }

    with pytest.raises(ValidationError, match="2 finding"):
        services.close_audit(by=oem_quality, audit=process_audit)

    services.close_observation(by=oem_quality, finding=obs)
    action = services.submit_action(by=ems_quality, action=complete(action, ems_quality))
    with pytest.raises(ValidationError, match="1 finding"):  # submitted is not closed
        services.close_audit(by=oem_quality, audit=process_audit)
    with pytest.raises(PermissionDenied):
        services.close_audit(by=world.ems_admin, audit=process_audit)

    services.verify_action(by=oem_quality, action=action, accept=True)
    audit = services.close_audit(by=oem_quality, audit=process_audit)

    audit.refresh_from_db()
    assert audit.status == Audit.Status.CLOSED and audit.closed_at is not None


# --- Template versions -------------------------------------------------------------------------


def new_version(template, extra_code="6.7.1", extra_text="Is the line cleared between lots?"):
    """Version n + 1 of a template: a copy with one more question in its last section."""
    v2 = AuditTemplate.objects.create(
        key=template.key,
        version=template.version + 1,
        name=template.name,
        kind=template.kind,
        scheme=template.scheme,
        scale=template.scale,
        description=template.description,
    )
    for section in template.sections.all():
        copy = TemplateSection.objects.create(
            template=v2, code=section.code, title=section.title, position=section.position
        )
        for q in section.questions.all():
            TemplateQuestion.objects.create(
                section=copy,
                code=q.code,
                text=q.text,
                guidance=q.guidance,
                starred=q.starred,
                position=q.position,
            )
    TemplateQuestion.objects.create(section=copy, code=extra_code, text=extra_text, position=99)
    AuditTemplate.objects.filter(pk=template.pk).update(is_current=False)
    return v2


def test_an_audit_keeps_the_template_version_it_used(
    world, process_audit, oem_quality, process_template
):
    audit = answer_all(process_audit, oem_quality)
    assert (audit.score_pct, audit.grade) == (100, "A")

    v2 = new_version(process_template)

    assert (v2.version, len(questions(v2)), len(questions(process_template))) == (2, 20, 19)
    audit.refresh_from_db()
    assert audit.template == process_template
    result = services.compute_score(audit)
    assert (result.pct, result.grade, result.answered, result.total) == (100, "A", 19, 19)
    # Scoring the old audit again still uses v1's questions.
    services.record_answer(
        by=oem_quality, audit=audit, question=question(process_template, "6.6.1"), score=8
    )
    audit.refresh_from_db()
    assert (audit.score_pct, audit.grade) == (Decimal("98.9"), "A")  # 188 / 190
    assert services.compute_score(audit).total == 19
    # v2's questions (even the copies) do not belong to the v1 audit, nor v1's to a v2 audit.
    for q in (question(v2, "6.7.1"), question(v2, "6.6.1")):
        with pytest.raises(ValidationError, match="not part of the audit's checklist"):
            services.record_answer(by=oem_quality, audit=audit, question=q, score=10)
    new = services.start_audit(
        by=oem_quality, audit=plan(oem_quality, world.ours, v2, title="Follow-up on v2")
    )
    with pytest.raises(ValidationError, match="not part of the audit's checklist"):
        services.record_answer(
            by=oem_quality, audit=new, question=question(process_template, "2.1"), score=10
        )
    new = answer_all(new, oem_quality)
    assert services.compute_score(new).total == 20
    # The answered v1 questions cannot be deleted from under the old audit.
    with pytest.raises(ProtectedError):
        question(process_template, "2.1").delete()


# --- Overdue reminders -------------------------------------------------------------------------


def overdue_notices(action):
    return Notification.objects.filter(subject__startswith=f"Overdue 8D: {action.finding}")


def test_overdue_actions_are_reminded_once_a_day(action, ems_quality):
    now = timezone.now()
    assert action.due_date == today()
    assert services.remind_overdue_actions(now=now) == 0  # due today is not overdue

    next_day = now + timedelta(days=1)
    assert services.remind_overdue_actions(now=next_day) == 1
    assert services.remind_overdue_actions(now=next_day) == 0
    assert services.remind_overdue_actions(now=next_day + timedelta(hours=5)) == 0

    notices = overdue_notices(action)
    assert set(notices.values_list("user__email", flat=True)) == {
        "quality@ems.example",  # the owner
        "am@ems.example",
    }
    assert notices.count() == 2  # one each
    action.refresh_from_db()
    assert action.last_reminded_at == next_day

    assert services.remind_overdue_actions(now=next_day + timedelta(days=1)) == 1
    assert overdue_notices(action).count() == 4


def test_submitted_and_closed_actions_are_not_reminded(action, ems_quality, oem_quality):
    action = services.submit_action(by=ems_quality, action=complete(action, ems_quality))
    later = timezone.now() + timedelta(days=3)
    assert services.remind_overdue_actions(now=later) == 0
    services.verify_action(by=oem_quality, action=action, accept=True)
    assert services.remind_overdue_actions(now=later) == 0
    assert not overdue_notices(action).exists()


# --- KPIs and the scorecard ----------------------------------------------------------------------


def test_the_scorecard_shows_no_data_rather_than_a_score(world):
    card = services.scorecard(world.ours)

    assert card["latest"] is None and card["audit_trend"] == []
    assert card["kpis"] == []
    assert card["open_findings"] == {MAJOR: 0, MINOR: 0, OBSERVATION: 0}
    assert card["certificates"] == card["certificates_expiring"] == []


def test_kpis_give_on_time_delivery_and_ppm(world):
    month = today().replace(day=1)
    record = services.save_kpi(
        by=world.account_manager,
        partnership=world.ours,
        month=month + timedelta(days=14),
        lines_due=40,
        lines_on_time=38,
        units_delivered=25_000,
        units_nonconforming=3,
    )
    assert record.month == month
    assert (record.on_time_pct, record.ppm) == (95.0, 120)  # 3 / 25,000 × 1,000,000

    # Corrected later by the OEM: the same month, one record.
    services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_on_time=26)
    card = services.scorecard(world.ours)
    assert [(k.month, k.on_time_pct, k.ppm) for k in card["kpis"]] == [(month, 65.0, 120)]


def test_a_month_without_deliveries_has_no_ppm_or_otd(world):
    month = today().replace(day=1)
    services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_due=3)
    services.save_kpi(
        by=world.buyer, partnership=world.ours, month=month, lines_on_time=2, units_delivered=0
    )
    (kpi,) = services.scorecard(world.ours)["kpis"]
    assert (kpi.on_time_pct, kpi.ppm) == (66.7, None)

    empty = services.save_kpi(
        by=world.buyer, partnership=world.ours, month=month - timedelta(days=40)
    )
    assert (empty.on_time_pct, empty.ppm) == (None, None)


def test_kpis_that_cannot_be_true_are_rejected(world):
    month = today().replace(day=1)
    with pytest.raises(ValidationError) as excinfo:
        services.save_kpi(
            by=world.buyer,
            partnership=world.ours,
            month=month,
            lines_due=10,
            lines_on_time=11,
            units_delivered=5,
            units_nonconforming=6,
        )
    assert set(excinfo.value.message_dict) == {"lines_on_time", "units_nonconforming"}
    assert not KpiRecord.objects.exists()

    services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_due=10)
    with pytest.raises(ValidationError, match="More lines on time than lines due"):
        services.save_kpi(by=world.buyer, partnership=world.ours, month=month, lines_on_time=11)
    assert KpiRecord.objects.get().lines_on_time == 0


def test_viewers_and_outsiders_record_no_kpis(world):
    for by in (world.oem_viewer, world.outsider):
        with pytest.raises(PermissionDenied):
            services.save_kpi(by=by, partnership=world.ours, month=today(), lines_due=1)
    assert not KpiRecord.objects.exists()


def test_the_scorecard_shows_the_latest_grade_and_open_findings(
    world, process_audit, oem_quality, finding
):
    answer_all(process_audit, oem_quality, **{"6_1_1": 0})
    services.raise_finding(
        by=oem_quality, audit=process_audit, classification=OBSERVATION, description="Tidy"
    )

    card = services.scorecard(world.ours)

    assert card["latest"]["id"] == process_audit.pk
    assert (card["latest"]["grade"], card["latest"]["score_pct"]) == ("B", Decimal("94.7"))
    assert card["open_findings"] == {MAJOR: 1, MINOR: 0, OBSERVATION: 1}
    assert services.scorecard(world.theirs)["latest"] is None
