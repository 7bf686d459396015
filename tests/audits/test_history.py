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
