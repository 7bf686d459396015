import datetime as dt

import pytest

from audits import services
from audits.models import AuditTemplate
from audits.template_data import ensure_installed
from partnership.models import Role
from tests.factories import member


@pytest.fixture
def oem_quality(world):
    return member(world.oem, Role.QUALITY, email="quality@oem.example")


@pytest.fixture
def ems_quality(world):
    return member(world.ems, Role.QUALITY, email="quality@ems.example")


@pytest.fixture
def process_template(db):
    ensure_installed()
    return AuditTemplate.objects.get(key="process-audit", version=1)


@pytest.fixture
def iso_template(db):
    ensure_installed()
    return AuditTemplate.objects.get(key="iso9001-qms", version=1)


@pytest.fixture
def process_audit(world, oem_quality, process_template):
    """A process audit of world.ours, started by the OEM quality engineer."""
    audit = services.plan_audit(
        by=oem_quality,
        partnership=world.ours,
        template=process_template,
        kind="process",
        title="Process audit SMT line 2",
        planned_date=dt.date.today(),
    )
    return services.start_audit(by=oem_quality, audit=audit)
