"""Demo audits, certificates and KPIs for Nordwind ↔ Baltic."""

import datetime as dt
import random

from django.utils import timezone

from partnership.models import Partnership, User

from . import services
from .models import AuditTemplate, TemplateQuestion
from .template_data import ensure_installed


def load() -> None:
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    if p.audits.exists():
        return
    ensure_installed()  # migrations install them; a flushed test database may have lost them
    today = timezone.localdate()
    quality = User.objects.get(email="quality@nordwind.example")
    ems_quality = User.objects.get(email="quality@baltic.example")
    for standard, number, issuer, days in [
        ("iso9001", "PL-QMS-11872", "TÜV Rheinland Polska", 540),
        ("iso13485", "MD-60211", "DEKRA Certification", 25),
        ("ipc_a_610", "IPC-610-CIT-4471", "IPC Europe", 300),
    ]:
        services.save_certificate(
            by=ems_quality,
            organization=p.ems,
            standard=standard,
            number=number,
            issuer=issuer,
            valid_from=today - dt.timedelta(days=1095 - days),
            valid_until=today + dt.timedelta(days=days),
        )
    services.save_profile(
        by=ems_quality,
        organization=p.ems,
        sites="Gdańsk, PL — 6,500 m²\nTczew, PL — 2,000 m² (box build)",
        smt_lines=5,
        employees=420,
        industries="Medical, industrial, automotive aftermarket",
        capabilities=["smt", "tht", "bga", "coating", "box_build", "ict", "fct", "xray"],
    )
    template = AuditTemplate.objects.get(key="process-audit", version=1)
    audit = services.plan_audit(
        by=quality,
        partnership=p,
        template=template,
        kind="process",
        title="Process audit SMT line 3 (MB-200)",
        planned_date=today - dt.timedelta(days=20),
        team=[ems_quality],
    )
    services.start_audit(by=quality, audit=audit)
    rng = random.Random(7)
    for q in TemplateQuestion.objects.filter(section__template=template):
        services.record_answer(
            by=quality, audit=audit, question=q, score=rng.choice([8, 8, 10, 10, 6])
        )
        services.record_answer(
            by=ems_quality, audit=audit, question=q, score=rng.choice([8, 10, 10])
        )
    finding = services.raise_finding(
        by=quality,
        audit=audit,
        classification="major",
        clause="6.2.1",
        description="Reflow profile of line 3 not re-validated after the oven maintenance in week 38.",
        evidence="Profile record RP-L3-0912 dated before maintenance; no thermocouple run since.",
    )
    services.raise_finding(
        by=quality,
        audit=audit,
        classification="observation",
        clause="6.6.1",
        description="MSL labels partly hand-written at the dry cabinet.",
    )
    services.issue_report(
        by=quality, audit=audit, summary="Capable process with one major gap in process control."
    )
    action = services.start_action(
        by=ems_quality, finding=finding, owner=ems_quality, due_date=today + dt.timedelta(days=10)
    )
    services.complete_step(
        by=ems_quality, action=action, step=1, text="A. Wójcik (QE), line 3 lead, process engineer."
    )
    services.complete_step(
        by=ems_quality, action=action, step=2, text="Oven maintenance did not trigger re-profiling."
    )
    for months_ago in range(6, 0, -1):
        month = (today.replace(day=1) - dt.timedelta(days=30 * months_ago)).replace(day=1)
        due = rng.randint(40, 60)
        delivered = rng.randint(9000, 14000)
        services.save_kpi(
            by=quality,
            partnership=p,
            month=month,
            lines_due=due,
            lines_on_time=due - rng.randint(0, 5),
            units_delivered=delivered,
            units_nonconforming=rng.randint(0, 6),
        )
