"""Audit pages: isolation for every page and file, two-sided scoring through htmx, roles."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from audits import services
from audits.models import Answer, Audit, Certificate, Finding, TemplateQuestion
from partnership.models import Role
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def theirs(world, media, process_template):
    their_quality = member(world.other_oem, Role.QUALITY, email="q@foreign.example")
    their_ems = member(world.other_ems, Role.QUALITY, email="q@elsewhere.example")
    audit = services.plan_audit(
        by=their_quality,
        partnership=world.theirs,
        template=process_template,
        kind="process",
        title="Secret audit",
        planned_date=dt.date.today(),
    )
    services.start_audit(by=their_quality, audit=audit)
    evidence = services.add_evidence(
        by=their_quality, audit=audit, upload=SimpleUploadedFile("line.jpg", b"\xff\xd8jpeg")
    )
    finding = services.raise_finding(
        by=their_quality, audit=audit, classification="major", description="Secret finding"
    )
    cert = services.save_certificate(
        by=their_ems,
        organization=world.other_ems,
        standard="iso9001",
        number="SECRET-CERT-9",
        issuer="X",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2028, 1, 1),
        file=SimpleUploadedFile("iso.pdf", b"%PDF-1.4 secret"),
    )
    return audit, evidence, finding, cert


def test_every_audit_page_of_another_partnership_answers_404(world, client, theirs):
    audit, evidence, finding, cert = theirs
    question = TemplateQuestion.objects.filter(section__template=audit.template).first()
    for p in (world.theirs.pk, world.ours.pk):  # their ids, under their and under our partnership
        urls = [
            ("get", reverse("audits:audit", args=[p, audit.pk])),
            ("post", reverse("audits:audit", args=[p, audit.pk])),
            ("post", reverse("audits:answer", args=[p, audit.pk])),
            ("get", reverse("audits:report", args=[p, audit.pk])),
            ("get", reverse("audits:evidence", args=[p, audit.pk, evidence.pk])),
            ("get", reverse("audits:finding", args=[p, finding.pk])),
            ("post", reverse("audits:finding", args=[p, finding.pk])),
            ("get", reverse("audits:certificate_file", args=[p, cert.pk])),
        ]
        if p == world.theirs.pk:
            urls += [
                ("get", reverse("audits:audits", args=[p])),
                ("get", reverse("audits:scorecard", args=[p])),
                ("post", reverse("audits:scorecard", args=[p])),
            ]
        for user in (world.buyer, world.account_manager, world.oem_admin):
            client.force_login(user)
            for method, url in urls:
                response = getattr(client, method)(
                    url, {"what": "close", "question": question.pk, "score": 10}
                )
                assert response.status_code == 404, (user, method, url, response.status_code)
    assert not Answer.objects.exists()
    assert Finding.objects.get(pk=finding.pk).status == "open"


def test_scorecard_shows_only_our_ems_certificates(world, client, theirs, ems_quality):
    services.save_certificate(
        by=ems_quality,
        organization=world.ems,
        standard="iso13485",
        number="OURS-1",
        issuer="TÜV",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2028, 1, 1),
    )
    client.force_login(world.buyer)
    page = client.get(reverse("audits:scorecard", args=[world.ours.pk])).content.decode()
    assert "OURS-1" in page and "SECRET-CERT-9" not in page and "no data" in page


def test_htmx_scoring_updates_the_score_and_keeps_sides_apart(
    world, client, process_audit, oem_quality, ems_quality
):
    url = reverse("audits:answer", args=[world.ours.pk, process_audit.pk])
    questions = list(TemplateQuestion.objects.filter(section__template=process_audit.template))
    htmx = {"HTTP_HX_REQUEST": "true"}
    client.force_login(oem_quality)
    for q in questions:
        response = client.post(url, {"question": q.pk, "score": 10}, **htmx)
    assert response.status_code == 200 and 'data-testid="grade">A<' in response.content.decode()
    assert 'hx-swap-oob="true"' in response.content.decode()
    bad = client.post(url, {"question": questions[0].pk, "score": 7}, **htmx)
    assert bad.status_code == 422 and "Use one of the scores" in bad.content.decode()

    # The EMS's scores land in its self-assessment and never move the OEM's grade.
    client.force_login(ems_quality)
    for q in questions:
        client.post(url, {"question": q.pk, "score": 0}, **htmx)
    process_audit.refresh_from_db()
    assert process_audit.grade == "A" and process_audit.score_pct == 100
    assert Answer.objects.filter(audit=process_audit, side="ems", score=0).count() == len(questions)
    assert Answer.objects.filter(audit=process_audit, side="oem", score=10).count() == len(
        questions
    )


def test_ems_cannot_raise_findings_issue_or_close(world, client, process_audit, ems_quality):
    client.force_login(ems_quality)
    url = process_audit.get_absolute_url()
    assert (
        client.post(
            url, {"what": "finding", "classification": "minor", "description": "x"}
        ).status_code
        == 403
    )
    assert client.post(url, {"what": "issue"}).status_code == 403
    assert not Finding.objects.exists()
    process_audit.refresh_from_db()
    assert process_audit.status == Audit.Status.IN_PROGRESS


def test_finding_8d_flow_through_the_pages(world, client, process_audit, oem_quality, ems_quality):
    client.force_login(oem_quality)
    response = client.post(
        process_audit.get_absolute_url(),
        {"what": "finding", "classification": "", "description": ""},
    )
    assert response.status_code == 400 and {"classification", "description"} <= set(
        response.context["finding_form"].errors
    )
    client.post(
        process_audit.get_absolute_url(),
        {
            "what": "finding",
            "classification": "major",
            "clause": "6.2.1",
            "description": "Profile not validated",
        },
    )
    finding = Finding.objects.get()
    client.post(process_audit.get_absolute_url(), {"what": "issue"})

    client.force_login(ems_quality)
    url = finding.get_absolute_url()
    client.post(
        url,
        {
            "what": "start-action",
            "owner": ems_quality.pk,
            "due_date": dt.date.today() + dt.timedelta(days=7),
        },
    )
    out_of_order = client.post(url, {"what": "step", "step": 3, "text": "Containment"}, follow=True)
    assert "Complete D2" in out_of_order.content.decode()
    for n in range(1, 8):
        client.post(url, {"what": "step", "step": n, "text": f"Step {n} done"})
    # The EMS cannot close its own finding.
    assert client.post(url, {"what": "verify"}).status_code == 403
    client.post(url, {"what": "submit"})

    client.force_login(oem_quality)
    client.post(url, {"what": "verify", "note": "Effective: new profile validated"})
    finding.refresh_from_db()
    assert finding.status == "closed"
    client.post(process_audit.get_absolute_url(), {"what": "close"})
    process_audit.refresh_from_db()
    assert process_audit.status == Audit.Status.CLOSED


def test_certificate_form_validates_and_only_the_ems_adds_its_certificates(
    world, client, ems_quality, media
):
    url = reverse("audits:scorecard", args=[world.ours.pk])
    client.force_login(ems_quality)
    response = client.post(
        url,
        {
            "what": "certificate",
            "standard": "iso9001",
            "number": "",
            "issuer": "TÜV",
            "valid_from": "2026-05-01",
            "valid_until": "2026-01-01",
        },
    )
    assert response.status_code == 400 and "number" in response.context["certificate_form"].errors
    client.post(
        url,
        {
            "what": "certificate",
            "standard": "iso9001",
            "number": "N-1",
            "issuer": "TÜV",
            "valid_from": "2025-05-01",
            "valid_until": "2028-05-01",
        },
    )
    assert Certificate.objects.filter(organization=world.ems, number="N-1").exists()
    client.force_login(world.buyer)
    assert (
        client.post(
            url,
            {
                "what": "certificate",
                "standard": "iso9001",
                "number": "N-2",
                "issuer": "TÜV",
                "valid_from": "2025-05-01",
                "valid_until": "2028-05-01",
            },
        ).status_code
        == 403
    )


def test_audit_page_query_count_does_not_grow_with_answers(
    world, client, process_audit, oem_quality, django_assert_max_num_queries
):
    client.force_login(oem_quality)
    questions = list(TemplateQuestion.objects.filter(section__template=process_audit.template))
    services.record_answer(by=oem_quality, audit=process_audit, question=questions[0], score=8)
    with django_assert_max_num_queries(40) as few:
        client.get(process_audit.get_absolute_url())
    for q in questions:
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=6)
    for _ in range(5):
        services.raise_finding(
            by=oem_quality, audit=process_audit, classification="minor", description="x"
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(process_audit.get_absolute_url())
