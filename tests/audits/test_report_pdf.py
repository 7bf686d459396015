"""The audit report PDF: content read back from the PDF, the draft marker, a query count that
does not grow with the audit, and access through the view."""

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from audits import services
from audits.models import EIGHT_D, TemplateQuestion
from audits.pdf import render_audit_pdf

pytestmark = pytest.mark.django_db

#: OEM scores of the process audit: 16 of 19 questions answered (a grade needs two thirds),
#: 152 of 160 points = 95 %, but starred question 2.4 scored 4, so A is downgraded to B.
OEM_SCORES = {
    "2.1": 10,
    "2.4": 4,
    "2.6": 10,
    "3.1": 10,
    "3.3": 10,
    "4.1": 10,
    "4.4": 10,
    "5.1": 10,
    "5.4": 10,
    "5.6": 10,
    "6.1.1": 10,
    "6.2.1": 10,
    "6.2.3": 8,
    "6.3.1": 10,
    "7.1": 10,
    "7.3": 10,
}
EMS_SCORES = {"2.1": 8, "2.4": 8, "2.6": 8, "6.2.1": 6}
STEPS = {
    1: "Team: process engineer SMT line 2, quality lead and oven maintenance technician",
    2: "Reflow profile was not re-measured after the oven 2 heater replacement on 4 March",
    3: "All boards built since the maintenance quarantined and re-inspected by AOI and X-ray",
}


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def compact(text: str) -> str:
    """Drop whitespace altogether: pypdf also reads a kerned pair ("Te") as two words."""
    return re.sub(r"\s+", "", text)


def contains(text: str, fragment: str) -> bool:
    return compact(fragment) in compact(text)


def page_texts(data: bytes) -> list[str]:
    return [squash(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def questions_of(audit) -> dict[str, TemplateQuestion]:
    return {
        q.code: q
        for q in TemplateQuestion.objects.filter(section__template=audit.template).select_related(
            "section"
        )
    }


def score(audit, by, scores: dict, notes: dict | None = None):
    questions = questions_of(audit)
    for code, value in scores.items():
        services.record_answer(
            by=by,
            audit=audit,
            question=questions[code],
            score=value,
            notes=(notes or {}).get(code, ""),
        )


@pytest.fixture
def scored_audit(process_audit, oem_quality, ems_quality):
    """The process audit scored by both sides, a major finding with an 8D in work (D1–D3),
    a minor finding without an action yet and an observation."""
    score(
        process_audit,
        oem_quality,
        OEM_SCORES,
        notes={"2.4": "Project plan exists but was never agreed with the customer"},
    )
    score(
        process_audit,
        ems_quality,
        EMS_SCORES,
        notes={"2.1": "Organisation chart updated every quarter"},
    )
    major = services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification="major",
        clause="6.2.1",
        description="Reflow profile of oven 2 not verified after maintenance",
        evidence="Maintenance log of 4 March; no profile measurement since",
    )
    services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification="minor",
        clause="5.6",
        description="Two MSL-3 reels found outside dry storage without floor-life label",
    )
    services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification="observation",
        description="Consider SPI data feedback to the printer",
    )
    action = services.start_action(
        by=ems_quality,
        finding=major,
        owner=ems_quality,
        due_date=dt.date.today() + dt.timedelta(days=30),
    )
    for step, text in STEPS.items():
        action = services.complete_step(by=ems_quality, action=action, step=step, text=text)
    process_audit.refresh_from_db()
    return process_audit


def test_report_shows_parties_score_questions_and_findings(
    settings, tmp_path, world, scored_audit, oem_quality, ems_quality
):
    settings.MEDIA_ROOT = tmp_path
    questions = questions_of(scored_audit)
    services.add_evidence(
        by=oem_quality,
        audit=scored_audit,
        question=questions["6.2.1"],
        upload=SimpleUploadedFile("oven2-log.jpg", b"\xff\xd8\xff\xe0 not really a jpeg"),
        caption="Oven 2 maintenance log",
    )

    data = render_audit_pdf(scored_audit)
    assert data.startswith(b"%PDF")
    pages = page_texts(data)
    text = " ".join(pages)

    # Parties, audit data, team
    assert contains(text, world.oem.name) and contains(text, world.ems.name)
    assert contains(text, scored_audit.title)
    assert contains(text, f"{scored_audit.template.name}, version {scored_audit.template.version}")
    assert contains(text, str(oem_quality))  # the lead auditor
    assert contains(text, f"Audit #{scored_audit.pk}")

    # Score and grade, with the downgrade explained
    assert (scored_audit.grade, str(scored_audit.score_pct)) == ("B", "95.0")
    assert contains(text, "95.0 %")
    assert contains(text, "Downgraded to B: starred question 2.4 scored 4.")
    assert contains(text, "16 of 19 questions answered")

    # Every section (table and chart), with the self-assessment beside the OEM score
    for code, title in [
        ("P2", "Project management"),
        ("P3", "Planning of product and process development"),
        ("P4", "Implementation of product and process development"),
        ("P5", "Supplier management"),
        ("P6", "Process analysis / production"),
        ("P7", "Customer care, customer satisfaction, service"),
    ]:
        assert contains(text, code), code
        assert contains(text, title), title
    assert contains(text, "80.0 %")  # P2 for the OEM and for the EMS (24 of 30 points)
    assert contains(text, "EMS 80.0 %")  # the self-assessment bar of P2 in the chart
    assert contains(text, "EMS 60.0 %")  # P6: one question self-assessed at 6

    # The full question list, starred questions marked, with both sides' notes
    for code, question in questions.items():
        assert contains(text, question.text), code
        if question.starred:
            assert contains(text, f"{code}*"), code
    assert contains(text, "Project plan exists but was never agreed with the customer")
    assert contains(text, "Organisation chart updated every quarter")
    assert contains(text, "oven2-log.jpg (Oven 2 maintenance log)")

    # Findings and the 8D
    assert contains(text, "F1") and contains(text, "Major nonconformity")
    assert contains(text, "Reflow profile of oven 2 not verified after maintenance")
    assert contains(text, "Maintenance log of 4 March; no profile measurement since")
    assert contains(text, "Two MSL-3 reels found outside dry storage without floor-life label")
    assert contains(text, "No corrective action started yet.")
    assert contains(text, "Consider SPI data feedback to the printer")
    assert contains(text, "Observation: no corrective action required.")
    for step_text in STEPS.values():
        assert contains(text, step_text)
    for _n, label in EIGHT_D:
        assert contains(text, str(label))
    assert contains(text, "3 of 8 steps done")
    assert contains(text, f"Owner: {ems_quality}")

    # Footer on every page
    assert len(pages) >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert contains(page, f"Audit #{scored_audit.pk}")


def test_draft_marker_until_the_report_is_issued(scored_audit, oem_quality):
    pages = page_texts(render_audit_pdf(scored_audit))
    assert "DRAFT — report not issued" in pages[0]
    assert all("DRAFT" in page for page in pages)  # the footer (and watermark) of every page

    services.issue_report(
        by=oem_quality, audit=scored_audit, summary="Line 2 is well controlled; see F1."
    )
    text = " ".join(page_texts(render_audit_pdf(scored_audit)))
    assert "DRAFT" not in text
    assert contains(text, "Line 2 is well controlled; see F1.")
    assert contains(text, "Report issued")


def test_verification_of_the_8d(process_audit, oem_quality, ems_quality):
    finding = services.raise_finding(
        by=oem_quality,
        audit=process_audit,
        classification="major",
        clause="7.3",
        description="Complaints are answered without an 8D analysis",
    )
    action = services.start_action(
        by=ems_quality, finding=finding, owner=ems_quality, due_date=dt.date.today()
    )
    for step in range(1, 8):
        action = services.complete_step(
            by=ems_quality, action=action, step=step, text=f"Step D{step} of the complaint 8D"
        )
    action = services.submit_action(by=ems_quality, action=action)
    services.verify_action(
        by=oem_quality, action=action, accept=False, note="Root cause is not verified by data"
    )
    text = " ".join(page_texts(render_audit_pdf(process_audit)))
    assert contains(text, "Sent back to the EMS: Root cause is not verified by data")
    assert contains(text, "7 of 8 steps done")
    assert contains(text, "awaiting the OEM's verification")

    action = services.submit_action(by=ems_quality, action=action)
    services.verify_action(
        by=oem_quality, action=action, accept=True, note="Two complaints checked on site"
    )
    text = " ".join(page_texts(render_audit_pdf(process_audit)))
    assert contains(text, f"Verified effective by {oem_quality} on")
    assert contains(text, "D8 Closure Two complaints checked on site")
    assert contains(text, "8 of 8 steps done")
    assert contains(text, "Verified and closed")
    assert "Sent back" not in text


def test_query_count_does_not_grow_with_answers_and_findings(
    settings, tmp_path, world, oem_quality, ems_quality, process_audit
):
    settings.MEDIA_ROOT = tmp_path
    questions = questions_of(process_audit)
    small = process_audit
    score(small, oem_quality, {"2.1": 10, "2.4": 8, "2.6": 6})
    services.raise_finding(
        by=oem_quality, audit=small, classification="minor", description="Only finding"
    )

    large = services.start_audit(
        by=oem_quality,
        audit=services.plan_audit(
            by=oem_quality,
            partnership=world.ours,
            template=small.template,
            kind="process",
            title="Process audit, everything answered",
            planned_date=dt.date.today(),
            team=[world.buyer, world.account_manager],
        ),
    )
    score(large, oem_quality, dict.fromkeys(questions, 8), notes=dict.fromkeys(questions, "OK"))
    score(large, ems_quality, dict.fromkeys(questions, 10))
    for code in list(questions)[:3]:
        services.add_evidence(
            by=oem_quality,
            audit=large,
            question=questions[code],
            upload=SimpleUploadedFile(f"photo-{code}.jpg", b"\xff\xd8\xff"),
        )
    for n in range(10):
        finding = services.raise_finding(
            by=oem_quality,
            audit=large,
            classification="major" if n % 2 else "minor",
            clause=f"6.{n}",
            description=f"Finding number {n} of the large audit",
        )
        action = services.start_action(
            by=ems_quality,
            finding=finding,
            owner=world.account_manager,
            due_date=dt.date.today() + dt.timedelta(days=20),
        )
        for step in range(1, n % 4 + 2):
            services.complete_step(by=ems_quality, action=action, step=step, text=f"D{step} {n}")

    with CaptureQueriesContext(connection) as small_queries:
        render_audit_pdf(small)
    with CaptureQueriesContext(connection) as large_queries:
        data = render_audit_pdf(large)
    assert len(large_queries) == len(small_queries) <= 8

    text = " ".join(page_texts(data))
    for n in range(10):
        assert contains(text, f"Finding number {n} of the large audit"), n
    assert contains(text, str(world.buyer)) and contains(text, str(world.account_manager))


def test_report_view_is_scoped_and_requires_login(client, world, scored_audit):
    url = reverse("audits:report", args=[world.ours.pk, scored_audit.pk])

    response = client.get(url)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]

    for user in (world.buyer, world.account_manager, world.oem_viewer):
        client.force_login(user)
        response = client.get(url)
        assert response.status_code == 200, user
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
        assert f"audit-report-{scored_audit.pk}.pdf" in response["Content-Disposition"]

    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    other = reverse("audits:report", args=[world.theirs.pk, scored_audit.pk])
    assert client.get(other).status_code == 404
