"""An audit's history: every score change says who scored which question, from what to what."""

import pytest
from django.urls import reverse

from audits.models import TemplateQuestion

pytestmark = pytest.mark.django_db


def test_a_rescored_question_shows_on_the_audit_page_for_both_sides(
    world, client, process_audit, oem_quality
):
    url = reverse("audits:answer", args=[world.ours.pk, process_audit.pk])
    question = TemplateQuestion.objects.filter(section__template=process_audit.template).first()
    client.force_login(oem_quality)
    client.post(url, {"question": question.pk, "score": 6})
    client.post(url, {"question": question.pk, "score": 8, "notes": "Stencil log found"})
    for viewer in (world.ems_admin, world.oem_viewer):
        client.force_login(viewer)
        page = client.get(reverse("audits:audit", args=[world.ours.pk, process_audit.pk]))
        html = page.content.decode()
        assert 'id="history"' in html and f"{question.code} · OEM audit" in html
        response = client.get(
            reverse("object_history", args=[world.ours.pk, "audit", process_audit.pk])
        )
        rescored = next(r for r in response.context["rows"] if r.kind_key == "answer")
        changes = {c.field: (c.before, c.after) for c in rescored.changes}
        assert changes == {"score": ("6", "8"), "notes": ("", "Stencil log found")}
        assert (rescored.who, rescored.organisation) == (str(oem_quality), world.oem.name)
    client.force_login(world.outsider)
    answer_history = reverse("object_history", args=[world.ours.pk, "answer", rescored.object_id])
    assert client.get(answer_history).status_code == 404


def test_the_daily_check_records_when_a_certificate_expired(world, client):
    import datetime as dt

    from audits import services

    cert = services.save_certificate(
        by=world.ems_admin,
        organization=world.ems,
        standard="iso9001",
        number="Q-1",
        issuer="TÜV",
        valid_from=dt.date(2025, 1, 1),
        valid_until=dt.date(2031, 1, 1),
    )
    assert services.check_certificates(today=dt.date(2031, 1, 2))["expired"] == 1
    assert services.check_certificates(today=dt.date(2031, 1, 3))["expired"] == 0
    client.force_login(world.buyer)
    rows = client.get(
        reverse("object_history", args=[world.ours.pk, "certificate", cert.pk])
    ).context["rows"]
    assert [r.action for r in rows] == ["changed", "created"]  # once, not per daily run
    assert [(c.field, c.before, c.after) for c in rows[0].changes] == [("expired", "no", "yes")]
    assert rows[0].who == "system"
