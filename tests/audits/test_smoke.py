import pytest

from audits import services
from audits.models import TemplateQuestion

pytestmark = pytest.mark.django_db


def test_full_marks_is_grade_a(process_audit, oem_quality):
    for q in TemplateQuestion.objects.filter(section__template=process_audit.template):
        services.record_answer(by=oem_quality, audit=process_audit, question=q, score=10)
    process_audit.refresh_from_db()
    assert (process_audit.score_pct, process_audit.grade) == (100, "A")
