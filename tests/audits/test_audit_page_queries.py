"""The audit page scores both sides from the sections and answers it has already read
(issue #9): the checklist and the answers are read once, and the scores are those of
``services.compute_score``."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from audits import services
from audits.models import TemplateQuestion


def test_audit_page_reads_checklist_and_answers_once(
    world, client, process_audit, oem_quality, ems_quality
):
    questions = list(TemplateQuestion.objects.filter(section__template=process_audit.template))
    for q in questions[:6]:  # the EMS self-assessment
        services.record_answer(by=ems_quality, audit=process_audit, question=q, score=8)
    for i, q in enumerate(questions):
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=[6, 8][i % 2])
    client.force_login(oem_quality)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(process_audit.get_absolute_url())
    assert response.status_code == 200
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum('FROM "audits_templatesection"' in s for s in sql) == 1
    # (The history card looks up the few questions its latest changes name, by id.)
    checklist = [s for s in sql if '"audits_templatequestion"."id" IN (' not in s]
    assert sum('FROM "audits_templatequestion"' in s for s in checklist) == 1
    assert sum('FROM "audits_answer"' in s for s in sql) == 1
    oem, ems = response.context["oem_score"], response.context["ems_score"]
    assert oem == services.compute_score(process_audit, "oem")
    assert ems == services.compute_score(process_audit, "ems")
    assert oem.answered == len(questions) and ems.answered == 6
