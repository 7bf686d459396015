"""Audits API: templates, audits with both sides' scores, answers by side, findings and 8D
actions over HTTP, certificates, KPIs and the scorecard — every endpoint scoped (foreign ids 404,
foreign ids in bodies a 400 that reveals nothing) and every write by side and role."""

import datetime as dt
from datetime import timedelta

import pytest
from django.utils import timezone

from audits import services
from audits.models import (
    Answer,
    Audit,
    AuditTemplate,
    Certificate,
    CorrectiveAction,
    Finding,
    KpiRecord,
    TemplateQuestion,
)
from partnership.models import ApiToken, Role
from tests.audits import conftest as audit_fixtures
from tests.factories import member

pytestmark = pytest.mark.django_db

# The audits app's fixtures.
oem_quality = audit_fixtures.oem_quality
ems_quality = audit_fixtures.ems_quality
process_template = audit_fixtures.process_template
iso_template = audit_fixtures.iso_template
process_audit = audit_fixtures.process_audit

NOT_FOUND = {"status": 404, "code": "not_found", "detail": "Not found."}


def api(client, user):
    """An HTTP client authenticating like a partner's QMS: with a personal token."""
    _token, key = ApiToken.issue(user, "qms")
    client.defaults["HTTP_AUTHORIZATION"] = f"Token {key}"
    return client


def post(client, url, data=None):
    return client.post(url, data or {}, content_type="application/json")


def put(client, url, data):
    return client.put(url, data, content_type="application/json")


def ids(response):
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])


def questions(template):
    return list(
        TemplateQuestion.objects.filter(section__template=template).order_by(
            "section__position", "position"
        )
    )


def today():
    return timezone.localdate()


@pytest.fixture
def major(process_audit, oem_quality):
    return services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification="major",
        clause="6.2.1",
        description="Solder paste stored outside the specified temperature range.",
    )


@pytest.fixture
def action(major, ems_quality):
    return services.start_action(
        by=ems_quality, finding=major, owner=ems_quality, due_date=today() + timedelta(days=14)
    )


@pytest.fixture
def foreign(world, process_template):
    """An audit of world.theirs with a finding and its 8D: must never show up for us."""
    auditor = world.outsider
    ems_member = member(world.other_ems, Role.QUALITY, email="quality@elsewhere.example")
    audit = services.plan_audit(
        by=auditor,
        partnership=world.theirs,
        template=process_template,
        kind="process",
        title="Their audit",
        planned_date=today(),
    )
    services.start_audit(by=auditor, audit=audit)
    finding = services.raise_finding(
        by=auditor, audit=audit, classification="minor", description="Theirs"
    )
    action = services.start_action(
        by=ems_member, finding=finding, owner=ems_member, due_date=today() + timedelta(days=7)
    )
    kpi = services.save_kpi(
        by=auditor, partnership=world.theirs, month=today(), lines_due=10, lines_on_time=9
    )
    return audit, finding, action, kpi


def certificate(organization, standard="iso9001", valid_until=None, **fields):
    return Certificate.objects.create(
        organization=organization,
        standard=standard,
        number=fields.pop("number", f"{standard}-{organization.pk}"),
        issuer="TÜV Süd",
        valid_from=dt.date(2020, 1, 1),
        valid_until=valid_until or today() + timedelta(days=400),
        **fields,
    )


# --- Templates -------------------------------------------------------------------------------


def test_templates_are_reference_data_for_any_signed_in_user(world, client, process_template):
    api(client, world.outsider)
    body = client.get("/api/v1/audit-templates/", {"key": "process-audit"}).json()
    assert [t["id"] for t in body["results"]] == [process_template.pk]
    detail = client.get(f"/api/v1/audit-templates/{process_template.pk}/").json()
    assert detail["scale"] == [0, 4, 6, 8, 10] and detail["scheme"] == "process_audit"
    expected = questions(process_template)
    got = [q for s in detail["sections"] for q in s["questions"]]
    assert [q["id"] for q in got] == [q.pk for q in expected]
    assert any(q["starred"] for q in got)
    all_templates = client.get("/api/v1/audit-templates/").json()
    assert all_templates["count"] == AuditTemplate.objects.count()
    assert post(client, "/api/v1/audit-templates/", {"key": "x"}).status_code == 405

    client.defaults.pop("HTTP_AUTHORIZATION")
    assert client.get("/api/v1/audit-templates/").status_code == 401


# --- Audits and answers ----------------------------------------------------------------------


def test_audit_shows_scores_of_both_sides_and_answers(
    world, client, process_audit, oem_quality, ems_quality
):
    qs = questions(process_audit.template)
    for q in qs:
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=10)
    services.record_answer(by=ems_quality, audit=process_audit, question=qs[0], score=6)

    api(client, world.account_manager)
    detail = client.get(f"/api/v1/audits/{process_audit.pk}/").json()
    assert (detail["score_pct"], detail["grade"], detail["grade_reasons"]) == ("100.0", "A", [])
    oem = services.compute_score(process_audit, "oem")
    ems = services.compute_score(process_audit, "ems")
    assert detail["oem_score"]["grade"] == oem.grade == "A"
    assert detail["ems_score"]["grade"] == ems.grade == ""
    assert detail["ems_score"]["reasons"] == ems.reasons
    assert [(s["code"], s["pct"]) for s in detail["oem_score"]["sections"]] == [
        (s.code, str(s.pct)) for s in oem.sections
    ]
    assert [(s["code"], s["answered"]) for s in detail["ems_score"]["sections"]] == [
        (s.code, s.answered) for s in ems.sections
    ]
    sides = [(a["question"], a["side"], a["score"]) for a in detail["answers"]]
    assert (qs[0].pk, "oem", 10) in sides and (qs[0].pk, "ems", 6) in sides
    assert len(sides) == len(qs) + 1

    listed = client.get("/api/v1/audits/").json()["results"]
    assert [a["id"] for a in listed] == [process_audit.pk]
    assert listed[0]["oem_score"] == detail["oem_score"]
    assert listed[0]["ems_score"] == detail["ems_score"]


def test_audit_list_costs_a_fixed_number_of_queries(
    world, client, process_audit, oem_quality, process_template, django_assert_max_num_queries
):
    for n in range(5):
        audit = services.plan_audit(
            by=oem_quality,
            partnership=world.ours,
            template=process_template,
            kind="process",
            title=f"Audit {n}",
            planned_date=today(),
        )
        services.start_audit(by=oem_quality, audit=audit)
        services.record_answer(
            by=oem_quality, audit=audit, question=questions(process_template)[0], score=8
        )
    api(client, world.buyer)
    with django_assert_max_num_queries(15):
        assert len(ids(client.get("/api/v1/audits/"))) == 6


def test_audits_are_scoped_and_filtered(world, client, process_audit, foreign):
    their_audit = foreign[0]
    api(client, world.buyer)
    assert ids(client.get("/api/v1/audits/")) == [process_audit.pk]
    assert ids(client.get("/api/v1/audits/", {"partnership": world.theirs.pk})) == []
    assert ids(client.get("/api/v1/audits/", {"status": "in_progress"})) == [process_audit.pk]
    assert ids(client.get("/api/v1/audits/", {"status": "planned"})) == []
    assert ids(client.get("/api/v1/audits/", {"kind": "process"})) == [process_audit.pk]
    assert ids(client.get("/api/v1/audits/", {"kind": "quality"})) == []
    response = client.get(f"/api/v1/audits/{their_audit.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND
    bad = client.get("/api/v1/audits/", {"status": "bogus", "updated_since": "last week"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"status", "updated_since"}

    api(client, world.outsider)
    assert ids(client.get("/api/v1/audits/")) == [their_audit.pk]
    assert ids(client.get("/api/v1/audits/", {"partnership": world.ours.pk})) == []
    assert client.get(f"/api/v1/audits/{process_audit.pk}/").status_code == 404


def test_updated_since_filters_audits_findings_and_actions(world, client, action, process_audit):
    api(client, world.buyer)
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
    later = (timezone.now() + timedelta(minutes=5)).isoformat()
    for url, pk in (
        ("/api/v1/audits/", process_audit.pk),
        ("/api/v1/findings/", action.finding_id),
        ("/api/v1/corrective-actions/", action.pk),
    ):
        assert ids(client.get(url, {"updated_since": earlier})) == [pk], url
        assert ids(client.get(url, {"updated_since": later})) == [], url

    # A change moves the row past a checkpoint taken before it.
    checkpoint = timezone.now().isoformat()
    assert ids(client.get("/api/v1/findings/", {"updated_since": checkpoint})) == []
    api(client, action.owner)
    post(client, f"/api/v1/corrective-actions/{action.pk}/complete-step/", {"step": 1, "text": "T"})
    api(client, world.buyer)
    assert ids(client.get("/api/v1/corrective-actions/", {"updated_since": checkpoint})) == [
        action.pk
    ]
    assert ids(client.get("/api/v1/findings/", {"updated_since": checkpoint})) == []


def test_oem_scores_the_audit_and_the_grade_follows(world, client, process_audit):
    q = questions(process_audit.template)[0]
    api(client, world.buyer)
    response = post(
        client,
        f"/api/v1/audits/{process_audit.pk}/answers/",
        {"question": q.pk, "score": 4, "notes": "Paste log incomplete"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["oem_score"]["answered"] == 1
    assert [(a["question"], a["side"], a["score"], a["notes"]) for a in body["answers"]] == [
        (q.pk, "oem", 4, "Paste log incomplete")
    ]
    assert body["answers"][0]["answered_by"]["id"] == world.buyer.pk
    answer = Answer.objects.get()
    assert (answer.side, answer.score, answer.answered_by) == ("oem", 4, world.buyer)
    # Answering again replaces the answer; null means not applicable.
    body = post(
        client, f"/api/v1/audits/{process_audit.pk}/answers/", {"question": q.pk, "score": None}
    ).json()
    assert body["answers"][0]["score"] is None and Answer.objects.count() == 1


def test_ems_answers_land_in_its_self_assessment(world, client, process_audit, oem_quality):
    qs = questions(process_audit.template)
    services.record_answer(by=oem_quality, audit=process_audit, question=qs[0], score=10)
    api(client, world.account_manager)
    response = post(
        client, f"/api/v1/audits/{process_audit.pk}/answers/", {"question": qs[0].pk, "score": 0}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ems_score"]["answered"] == 1 and body["ems_score"]["pct"] == "0.0"
    assert body["oem_score"]["answered"] == 1 and body["oem_score"]["pct"] == "100.0"
    oem = Answer.objects.get(side="oem")
    ems = Answer.objects.get(side="ems")
    assert (oem.score, oem.answered_by) == (10, oem_quality)
    assert (ems.score, ems.answered_by) == (0, world.account_manager)


def test_viewers_cannot_score_and_outsiders_get_404(world, client, process_audit):
    q = questions(process_audit.template)[0]
    url = f"/api/v1/audits/{process_audit.pk}/answers/"
    api(client, world.oem_viewer)
    response = post(client, url, {"question": q.pk, "score": 10})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    api(client, world.outsider)
    response = post(client, url, {"question": q.pk, "score": 10})
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert not Answer.objects.exists()


def test_oem_cannot_score_before_the_audit_starts(world, client, oem_quality, process_template):
    audit = services.plan_audit(
        by=oem_quality,
        partnership=world.ours,
        template=process_template,
        kind="process",
        title="Not yet",
        planned_date=today(),
    )
    q = questions(process_template)[0]
    api(client, world.buyer)
    response = post(client, f"/api/v1/audits/{audit.pk}/answers/", {"question": q.pk, "score": 8})
    assert response.status_code == 400
    assert "non_field_errors" in response.json()["errors"]
    # The EMS may self-assess a planned audit.
    api(client, world.account_manager)
    response = post(client, f"/api/v1/audits/{audit.pk}/answers/", {"question": q.pk, "score": 8})
    assert response.status_code == 200
    assert list(Answer.objects.values_list("side", flat=True)) == ["ems"]


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"score": 5}, {"score"}),  # not on the 0/4/6/8/10 scale
        ({"score": -1}, {"score"}),
        ({"score": "ten"}, {"score"}),
        ({"question": "abc"}, {"question"}),
        ({"question": 99999999}, {"question"}),
        ({"question": None, "score": None}, {"question"}),
        ({"other_template": True}, {"question"}),
    ],
)
def test_bad_answers_give_field_errors_and_save_nothing(
    world, client, process_audit, iso_template, data, fields
):
    data = dict(data)
    q = questions(process_audit.template)[0]
    if data.pop("other_template", False):
        data["question"] = questions(iso_template)[0].pk
    before = process_audit.updated_at
    api(client, world.buyer)
    response = post(
        client,
        f"/api/v1/audits/{process_audit.pk}/answers/",
        {"question": q.pk, "score": 10, **data},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == fields
    assert not Answer.objects.exists()
    process_audit.refresh_from_db()
    assert process_audit.updated_at == before and process_audit.grade == ""


# --- Findings --------------------------------------------------------------------------------


def raise_major(client, audit, /, **data):
    return post(
        client,
        "/api/v1/findings/",
        {
            "audit": audit.pk,
            "classification": "major",
            "clause": "6.4.1",
            "description": "Reflow profile not verified after the oven was repaired.",
            **data,
        },
    )


def test_oem_auditor_raises_a_finding(world, client, process_audit):
    api(client, world.buyer)
    response = raise_major(client, process_audit, external_id="QMS-77", number=99, status="closed")
    assert response.status_code == 201, response.content
    body = response.json()
    finding = Finding.objects.get()
    assert body["id"] == finding.pk and body["number"] == 1 and body["status"] == "open"
    assert body["partnership"] == world.ours.pk and body["audit"] == process_audit.pk
    assert body["external_id"] == finding.external_id == "QMS-77"
    assert body["needs_action"] is True and body["action"] is None
    assert body["response_due"] == str(today() + timedelta(days=process_audit.response_days))
    assert body["raised_by"]["id"] == world.buyer.pk
    second = raise_major(client, process_audit, classification="observation")
    assert second.status_code == 201 and second.json()["number"] == 2
    assert second.json()["response_due"] is None and second.json()["needs_action"] is False


def test_raising_again_with_the_same_external_id_returns_the_first(world, client, process_audit):
    api(client, world.buyer)
    first = raise_major(client, process_audit, external_id="QMS-1")
    assert first.status_code == 201
    retry = raise_major(client, process_audit, external_id="QMS-1")
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert Finding.objects.count() == 1
    assert ids(client.get("/api/v1/findings/", {"external_id": "QMS-1"})) == [first.json()["id"]]
    assert ids(client.get("/api/v1/findings/", {"external_id": "QMS-2"})) == []
    # Others learn nothing from a retry: the EMS still gets 403.
    api(client, world.account_manager)
    assert raise_major(client, process_audit, external_id="QMS-1").status_code == 403


@pytest.mark.parametrize("who", ["account_manager", "ems_admin", "oem_viewer"])
def test_ems_and_viewers_cannot_raise_findings(world, client, process_audit, who):
    api(client, getattr(world, who))
    response = raise_major(client, process_audit)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not Finding.objects.exists()


def test_findings_only_during_the_audit(world, client, oem_quality, process_template):
    audit = services.plan_audit(
        by=oem_quality,
        partnership=world.ours,
        template=process_template,
        kind="process",
        title="Planned",
        planned_date=today(),
    )
    api(client, world.buyer)
    response = raise_major(client, audit)
    assert response.status_code == 400 and "non_field_errors" in response.json()["errors"]
    assert not Finding.objects.exists()


def test_audit_outside_scope_is_indistinguishable_from_unknown(
    world, client, process_audit, foreign
):
    api(client, world.buyer)
    their = raise_major(client, foreign[0])
    unknown = raise_major(client, foreign[0], audit=foreign[0].pk + 1000)
    malformed = raise_major(client, foreign[0], audit="abc")
    assert their.status_code == unknown.status_code == malformed.status_code == 400
    assert their.json() == unknown.json() == malformed.json()
    assert set(their.json()["errors"]) == {"audit"}
    assert Finding.objects.filter(audit=foreign[0]).count() == 1


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"classification": "catastrophic"}, {"classification"}),
        ({"description": ""}, {"description"}),
        ({"description": None, "clause": "x" * 61}, {"description", "clause"}),
        ({"audit": None}, {"audit"}),
        ({"external_id": "x" * 101}, {"external_id"}),
    ],
)
def test_bad_findings_give_field_errors_and_save_nothing(
    world, client, process_audit, data, fields
):
    api(client, world.buyer)
    response = raise_major(client, process_audit, **data)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    assert set(body["errors"]) == fields
    assert not Finding.objects.exists()


def test_findings_are_scoped_and_filtered(world, client, major, foreign, oem_quality):
    minor = services.raise_finding(
        by=oem_quality, audit=major.audit, classification="minor", description="Labels"
    )
    their_finding = foreign[1]
    api(client, world.account_manager)
    assert ids(client.get("/api/v1/findings/")) == [major.pk, minor.pk]
    assert ids(client.get("/api/v1/findings/", {"classification": "minor"})) == [minor.pk]
    assert ids(client.get("/api/v1/findings/", {"status": "open"})) == [major.pk, minor.pk]
    assert ids(client.get("/api/v1/findings/", {"status": "closed"})) == []
    assert ids(client.get("/api/v1/findings/", {"audit": major.audit_id})) == [major.pk, minor.pk]
    assert ids(client.get("/api/v1/findings/", {"audit": foreign[0].pk})) == []
    assert ids(client.get("/api/v1/findings/", {"partnership": world.ours.pk})) == [
        major.pk,
        minor.pk,
    ]
    assert ids(client.get("/api/v1/findings/", {"partnership": world.theirs.pk})) == []
    assert client.get(f"/api/v1/findings/{major.pk}/").json()["clause"] == "6.2.1"
    assert client.get(f"/api/v1/findings/{their_finding.pk}/").status_code == 404

    api(client, world.outsider)
    assert ids(client.get("/api/v1/findings/")) == [their_finding.pk]
    response = client.get(f"/api/v1/findings/{major.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND


# --- Corrective actions ----------------------------------------------------------------------


def test_full_8d_flow_over_the_api(world, client, process_audit, oem_quality, ems_quality):
    # The OEM raises a major finding …
    api(client, oem_quality)
    finding = raise_major(client, process_audit).json()
    assert finding["status"] == "open"

    # … the EMS starts the 8D (owner: itself by default) …
    api(client, ems_quality)
    due = str(today() + timedelta(days=10))
    response = post(
        client, "/api/v1/corrective-actions/", {"finding": finding["id"], "due_date": due}
    )
    assert response.status_code == 201, response.content
    action = response.json()
    assert action["owner"] == ems_quality.pk and action["owner_contact"]["id"] == ems_quality.pk
    assert (action["status"], action["next_step"], action["due_date"]) == ("open", 1, due)
    assert [s["step"] for s in action["steps"]] == list(range(1, 9))
    assert not any(s["done"] for s in action["steps"])
    url = f"/api/v1/corrective-actions/{action['id']}"
    assert client.get(f"/api/v1/findings/{finding['id']}/").json()["action"] == action["id"]

    # … completes D1 to D7 in order …
    for step in range(1, 8):
        response = post(client, f"{url}/complete-step/", {"step": step, "text": f"D{step} done"})
        assert response.status_code == 200, response.content
        body = response.json()
        done = body["steps"][step - 1]
        assert (done["done"], done["text"], done["done_by"]) == (
            True,
            f"D{step} done",
            ems_quality.pk,
        )
    assert body["next_step"] is None

    # … and submits it.
    response = post(client, f"{url}/submit/")
    assert response.status_code == 200 and response.json()["status"] == "submitted"
    assert client.get(f"/api/v1/findings/{finding['id']}/").json()["status"] == "submitted"

    # The OEM verifies (D8): the finding is closed.
    api(client, oem_quality)
    response = post(client, f"{url}/verify/", {"accept": True, "note": "Profile log checked."})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "verified" and body["verified_by"]["id"] == oem_quality.pk
    assert body["steps"][7]["done"] and body["steps"][7]["text"] == "Profile log checked."
    closed = client.get(f"/api/v1/findings/{finding['id']}/").json()
    assert closed["status"] == "closed" and closed["closed_by"]["id"] == oem_quality.pk
    assert Finding.objects.get().status == Finding.Status.CLOSED


def test_oem_sends_the_8d_back_with_a_reason(world, client, action, ems_quality, oem_quality):
    for step in range(1, 8):
        services.complete_step(by=ems_quality, action=action, step=step, text="done")
    services.submit_action(by=ems_quality, action=action)
    api(client, oem_quality)
    url = f"/api/v1/corrective-actions/{action.pk}/verify/"
    response = post(client, url, {"accept": False})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"note"}
    assert CorrectiveAction.objects.get().status == "submitted"
    response = post(client, url, {"accept": False, "note": "D4 lacks the escape point."})
    assert response.status_code == 200 and response.json()["status"] == "open"
    assert Finding.objects.get().status == Finding.Status.OPEN


def test_step_gating(world, client, action, ems_quality):
    url = f"/api/v1/corrective-actions/{action.pk}/complete-step/"
    api(client, ems_quality)
    response = post(client, url, {"step": 2, "text": "Problem described"})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"step"}
    assert post(client, url, {"step": 1, "text": "Team"}).status_code == 200
    response = post(client, url, {"step": 3, "text": "Containment"})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"step"} and "D2" in errors["step"][0]
    for bad in ({"step": 8, "text": "Closure"}, {"step": 0, "text": "x"}, {"step": "two"}):
        response = post(client, url, {"text": "x", **bad})
        assert response.status_code == 400 and "step" in response.json()["errors"], bad
    response = post(client, url, {"step": 2, "text": ""})
    assert response.status_code == 400 and set(response.json()["errors"]) == {"text"}
    # Submitting before D7 is refused.
    response = post(client, f"/api/v1/corrective-actions/{action.pk}/submit/")
    assert response.status_code == 400
    action.refresh_from_db()
    assert list(action.steps) == ["1"] and action.status == "open"


def test_oem_cannot_do_the_ems_steps_and_the_ems_cannot_verify(
    world, client, action, ems_quality, oem_quality
):
    base = f"/api/v1/corrective-actions/{action.pk}"
    api(client, oem_quality)
    response = post(client, f"{base}/complete-step/", {"step": 1, "text": "Team"})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert post(client, f"{base}/submit/").status_code == 403
    for step in range(1, 8):
        services.complete_step(by=ems_quality, action=action, step=step, text="done")
    services.submit_action(by=ems_quality, action=action)
    for who in (ems_quality, world.ems_admin, world.oem_viewer):
        api(client, who)
        response = post(client, f"{base}/verify/", {"accept": True})
        assert response.status_code == 403, who
    action.refresh_from_db()
    assert action.status == "submitted" and Finding.objects.get().status == "submitted"


def test_only_the_ems_starts_an_action(world, client, major, oem_quality):
    due = str(today() + timedelta(days=5))
    for who in (oem_quality, world.buyer, world.oem_viewer):
        api(client, who)
        response = post(
            client, "/api/v1/corrective-actions/", {"finding": major.pk, "due_date": due}
        )
        assert response.status_code == 403, who
    assert not CorrectiveAction.objects.exists()


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"due_date": "2001-01-01"}, {"due_date"}),
        ({"due_date": "soon"}, {"due_date"}),
        ({"finding": None}, {"finding"}),
        ({"finding": "abc"}, {"finding"}),
        ({"owner": "oem"}, {"owner"}),  # an OEM member cannot own the EMS's 8D
        ({"owner": "unknown"}, {"owner"}),
        ({"owner": "outsider"}, {"owner"}),
    ],
)
def test_bad_actions_give_field_errors_and_save_nothing(
    world, client, major, ems_quality, data, fields
):
    people = {"oem": world.buyer.pk, "unknown": 99999999, "outsider": world.outsider.pk}
    data = dict(data)
    if "owner" in data:
        data["owner"] = people[data["owner"]]
    api(client, ems_quality)
    response = post(
        client,
        "/api/v1/corrective-actions/",
        {"finding": major.pk, "due_date": str(today() + timedelta(days=5)), **data},
    )
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert not CorrectiveAction.objects.exists()


def test_foreign_owner_and_finding_are_indistinguishable_from_unknown(
    world, client, major, ems_quality, foreign
):
    api(client, ems_quality)
    due = str(today() + timedelta(days=5))

    def start(**data):
        return post(client, "/api/v1/corrective-actions/", {"due_date": due, **data})

    foreign_owner = start(finding=major.pk, owner=world.outsider.pk)
    unknown_owner = start(finding=major.pk, owner=99999999)
    assert foreign_owner.json() == unknown_owner.json()
    foreign_finding = start(finding=foreign[1].pk)
    unknown_finding = start(finding=99999999)
    assert foreign_finding.status_code == unknown_finding.status_code == 400
    assert foreign_finding.json() == unknown_finding.json()
    assert not CorrectiveAction.objects.filter(finding=major).exists()


def test_observations_need_no_action_and_one_action_per_finding(
    world, client, major, process_audit, oem_quality, ems_quality
):
    observation = services.raise_finding(
        by=oem_quality, audit=process_audit, classification="observation", description="Tidy"
    )
    due = str(today() + timedelta(days=5))
    api(client, ems_quality)

    def start(finding):
        return post(client, "/api/v1/corrective-actions/", {"finding": finding.pk, "due_date": due})

    assert start(observation).status_code == 400
    assert start(major).status_code == 201
    assert start(major).status_code == 400
    assert CorrectiveAction.objects.count() == 1


def test_actions_are_scoped_and_every_action_endpoint_answers_404_for_outsiders(
    world, client, action, foreign
):
    their_action = foreign[2]
    api(client, world.buyer)
    assert ids(client.get("/api/v1/corrective-actions/")) == [action.pk]
    assert ids(client.get("/api/v1/corrective-actions/", {"status": "open"})) == [action.pk]
    assert ids(client.get("/api/v1/corrective-actions/", {"status": "verified"})) == []
    assert ids(client.get("/api/v1/corrective-actions/", {"finding": action.finding_id})) == [
        action.pk
    ]
    assert ids(client.get("/api/v1/corrective-actions/", {"partnership": world.theirs.pk})) == []
    assert client.get(f"/api/v1/corrective-actions/{their_action.pk}/").status_code == 404

    api(client, world.outsider)
    assert ids(client.get("/api/v1/corrective-actions/")) == [their_action.pk]
    base = f"/api/v1/corrective-actions/{action.pk}"
    assert client.get(f"{base}/").status_code == 404
    for url, data in (
        (f"{base}/complete-step/", {"step": 1, "text": "Team"}),
        (f"{base}/submit/", {}),
        (f"{base}/verify/", {"accept": True}),
    ):
        response = post(client, url, data)
        assert response.status_code == 404, url
        assert response.json() == NOT_FOUND
    action.refresh_from_db()
    assert action.steps == {} and action.status == "open"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audits/abc/",
        "/api/v1/audits/99999999999999999999/",
        "/api/v1/findings/1.5/",
        "/api/v1/corrective-actions/-1/",
        "/api/v1/certificates/abc/",
        "/api/v1/kpis/99999999999999999999/",
        "/api/v1/scorecards/abc/",
        "/api/v1/scorecards/99999999999999999999/",
        "/api/v1/audit-templates/abc/",
    ],
)
def test_malformed_ids_answer_404(world, client, url):
    api(client, world.buyer)
    assert client.get(url).status_code == 404


# --- Certificates ----------------------------------------------------------------------------


def test_certificates_of_own_and_partner_organisations_only(world, client):
    ours = certificate(world.oem, "iso14001")
    partner = certificate(world.ems, "iso13485", valid_until=today() + timedelta(days=20))
    expired = certificate(
        world.ems, "iatf16949", valid_until=today() - timedelta(days=3), expired=True
    )
    unrelated = certificate(world.other_ems, "iso9001")

    api(client, world.buyer)
    assert ids(client.get("/api/v1/certificates/")) == sorted([ours.pk, partner.pk, expired.pk])
    detail = client.get(f"/api/v1/certificates/{partner.pk}/").json()
    assert detail["organization_name"] == world.ems.name and detail["days_left"] == 20
    assert detail["has_file"] is False
    response = client.get(f"/api/v1/certificates/{unrelated.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert ids(client.get("/api/v1/certificates/", {"organization": world.other_ems.pk})) == []
    assert ids(client.get("/api/v1/certificates/", {"organization": world.ems.pk})) == sorted(
        [partner.pk, expired.pk]
    )
    assert ids(client.get("/api/v1/certificates/", {"standard": "iso13485"})) == [partner.pk]
    assert ids(client.get("/api/v1/certificates/", {"expired": "true"})) == [expired.pk]
    assert ids(client.get("/api/v1/certificates/", {"expiring_within_days": 30})) == [partner.pk]
    assert ids(client.get("/api/v1/certificates/", {"expiring_within_days": 10})) == []
    bad = client.get("/api/v1/certificates/", {"expiring_within_days": "-1", "standard": "iso0000"})
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"expiring_within_days", "standard"}
    assert post(client, "/api/v1/certificates/", {"number": "x"}).status_code == 405

    api(client, world.outsider)
    assert ids(client.get("/api/v1/certificates/")) == [unrelated.pk]
    for cert in (ours, partner, expired):
        assert client.get(f"/api/v1/certificates/{cert.pk}/").status_code == 404


# --- KPIs ------------------------------------------------------------------------------------


def test_erp_upserts_kpis_by_partnership_and_month(world, client):
    api(client, world.account_manager)
    month = {"partnership": world.ours.pk, "month": "2025-03-17"}
    response = post(client, "/api/v1/kpis/", {**month, "lines_due": 40, "lines_on_time": 38})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["month"], body["on_time_pct"], body["ppm"]) == ("2025-03-01", 95.0, None)
    # The PPM feed comes separately and keeps the OTD figures.
    response = post(
        client, "/api/v1/kpis/", {**month, "units_delivered": 20000, "units_nonconforming": 3}
    )
    assert response.status_code == 200 and response.json()["id"] == body["id"]
    record = KpiRecord.objects.get()
    assert (record.month, record.lines_due, record.lines_on_time) == (dt.date(2025, 3, 1), 40, 38)
    assert response.json()["ppm"] == 150
    # A retry changes nothing.
    assert post(client, "/api/v1/kpis/", {**month, "units_nonconforming": 3}).status_code == 200
    assert KpiRecord.objects.count() == 1

    # PUT replaces the four figures of that month.
    api(client, world.buyer)
    figures = {"lines_due": 50, "lines_on_time": 45, "units_delivered": 0, "units_nonconforming": 0}
    response = put(client, f"/api/v1/kpis/{record.pk}/", figures)
    assert response.status_code == 200, response.content
    assert (response.json()["on_time_pct"], response.json()["ppm"]) == (90.0, None)
    response = put(client, f"/api/v1/kpis/{record.pk}/", {"lines_due": 50})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {
        "lines_on_time",
        "units_delivered",
        "units_nonconforming",
    }
    patch = client.patch(f"/api/v1/kpis/{record.pk}/", {"lines_due": 1}, "application/json")
    assert patch.status_code == 405


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"lines_due": 5, "lines_on_time": 6}, {"lines_on_time"}),
        ({"units_delivered": 10, "units_nonconforming": 11}, {"units_nonconforming"}),
        ({"lines_due": -1}, {"lines_due"}),
        ({"month": "March"}, {"month"}),
        ({"partnership": "abc", "lines_due": 2**40}, {"partnership", "lines_due"}),
    ],
)
def test_bad_kpis_give_field_errors_and_save_nothing(world, client, data, fields):
    api(client, world.account_manager)
    response = post(
        client, "/api/v1/kpis/", {"partnership": world.ours.pk, "month": "2025-03-01", **data}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields
    assert not KpiRecord.objects.exists()


def test_kpis_are_scoped_and_viewers_cannot_write(world, client, foreign):
    their_kpi = foreign[3]
    ours = services.save_kpi(
        by=world.buyer, partnership=world.ours, month=today(), lines_due=4, lines_on_time=4
    )
    api(client, world.oem_viewer)
    assert ids(client.get("/api/v1/kpis/")) == [ours.pk]
    assert ids(client.get("/api/v1/kpis/", {"partnership": world.theirs.pk})) == []
    assert client.get(f"/api/v1/kpis/{their_kpi.pk}/").status_code == 404
    response = post(client, "/api/v1/kpis/", {"partnership": world.ours.pk, "month": "2025-01-01"})
    assert response.status_code == 403
    figures = {"lines_due": 1, "lines_on_time": 0, "units_delivered": 0, "units_nonconforming": 0}
    assert put(client, f"/api/v1/kpis/{ours.pk}/", figures).status_code == 403

    api(client, world.outsider)
    assert ids(client.get("/api/v1/kpis/")) == [their_kpi.pk]
    response = client.get(f"/api/v1/kpis/{ours.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert put(client, f"/api/v1/kpis/{ours.pk}/", figures).status_code == 404
    foreign_partnership = post(
        client, "/api/v1/kpis/", {"partnership": world.ours.pk, "month": "2025-01-01"}
    )
    unknown_partnership = post(
        client, "/api/v1/kpis/", {"partnership": 99999999, "month": "2025-01-01"}
    )
    assert foreign_partnership.status_code == 400
    assert foreign_partnership.json() == unknown_partnership.json()
    ours.refresh_from_db()
    assert (ours.lines_due, KpiRecord.objects.filter(partnership=world.ours).count()) == (4, 1)


# --- Scorecard -------------------------------------------------------------------------------


def test_scorecard_without_data_says_so(world, client):
    api(client, world.account_manager)
    response = client.get(f"/api/v1/scorecards/{world.ours.pk}/")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "partnership": world.ours.pk,
        "ems": world.ems.pk,
        "latest": None,
        "audit_trend": [],
        "open_findings": {"major": 0, "minor": 0, "observation": 0},
        "certificates": {"total": 0, "valid": 0, "expiring": 0, "expired": 0},
        "kpis": [],
    }


def test_scorecard_sums_up_the_partnership(
    world, client, process_audit, oem_quality, major, foreign
):
    for q in questions(process_audit.template):
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=8)
    services.raise_finding(
        by=oem_quality, audit=process_audit, classification="observation", description="Tidy"
    )
    certificate(world.ems, "iso9001")
    certificate(world.ems, "iso13485", valid_until=today() + timedelta(days=30))
    certificate(world.ems, "iatf16949", valid_until=today() - timedelta(days=1), expired=True)
    # Past its end date, not yet marked by the daily check: expired, not "expiring".
    certificate(world.ems, "as9100", valid_until=today() - timedelta(days=1))
    certificate(world.oem, "iso14001")  # the OEM's own: not on the EMS's scorecard
    this_month = today().replace(day=1)
    services.save_kpi(
        by=world.buyer,
        partnership=world.ours,
        month=this_month,
        lines_due=20,
        lines_on_time=19,
        units_delivered=0,
    )

    api(client, world.buyer)
    body = client.get(f"/api/v1/scorecards/{world.ours.pk}/").json()
    process_audit.refresh_from_db()
    assert body["latest"]["id"] == process_audit.pk
    assert (body["latest"]["grade"], body["latest"]["score_pct"]) == ("B", "80.0")
    assert [a["id"] for a in body["audit_trend"]] == [process_audit.pk]
    assert body["open_findings"] == {"major": 1, "minor": 0, "observation": 1}
    assert body["certificates"] == {"total": 4, "valid": 1, "expiring": 1, "expired": 2}
    assert body["kpis"] == [
        {
            "month": str(this_month),
            "lines_due": 20,
            "lines_on_time": 19,
            "units_delivered": 0,
            "units_nonconforming": 0,
            "on_time_pct": 95.0,
            "ppm": None,
        }
    ]

    api(client, world.outsider)
    response = client.get(f"/api/v1/scorecards/{world.ours.pk}/")
    assert response.status_code == 404 and response.json() == NOT_FOUND
    assert client.get(f"/api/v1/scorecards/{world.theirs.pk}/").json()["open_findings"] == {
        "major": 0,
        "minor": 1,
        "observation": 0,
    }
    # Only the detail route exists.
    assert client.get("/api/v1/scorecards/").status_code == 404
    assert client.get(f"/api/v1/partnerships/{world.theirs.pk}/scorecard/").status_code == 404


def test_unauthenticated_requests_get_401(world, client, process_audit):
    for url in (
        "/api/v1/audits/",
        f"/api/v1/audits/{process_audit.pk}/",
        "/api/v1/findings/",
        "/api/v1/corrective-actions/",
        "/api/v1/certificates/",
        "/api/v1/kpis/",
        f"/api/v1/scorecards/{world.ours.pk}/",
    ):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"
    response = post(client, f"/api/v1/audits/{process_audit.pk}/answers/", {})
    assert response.status_code == 401
    assert Audit.objects.get().status == "in_progress"


def test_ems_self_assessment_moves_the_audit_past_updated_since(world, client, process_audit):
    checkpoint = timezone.now().isoformat()
    api(client, world.account_manager)
    q = questions(process_audit.template)[0]
    post(client, f"/api/v1/audits/{process_audit.pk}/answers/", {"question": q.pk, "score": 6})
    assert ids(client.get("/api/v1/audits/", {"updated_since": checkpoint})) == [process_audit.pk]
