"""Rows for every list page, in bulk: ``seed(world, n)`` adds n rows to each list of ``ours``
(and one of each to ``theirs``, which must never show up)."""

import datetime as dt
import itertools
import uuid

from django.urls import reverse
from django.utils import timezone

from audits.models import Audit, AuditTemplate, Finding
from audits.template_data import ensure_installed
from comms.models import ActionItem, Goal, Meeting, Problem
from contracts.models import Contract, DecisionRequest
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import issue_api_key
from partnership.models import Notification, Role
from partnership.services import issue_api_token
from schedules.models import Product, ProductionRun
from tests.factories import EMSFactory, PartnershipFactory, member

_serial = itertools.count(1)

# (url name, url args from the world, user attribute) for every list page of the product.
PAGES = {
    "dashboard": (lambda w: reverse("dashboard"), "buyer"),
    "notifications": (lambda w: reverse("notifications"), "buyer"),
    "contracts": (lambda w: reverse("contracts:list", args=[w.ours.pk]), "buyer"),
    "decisions": (lambda w: reverse("contracts:decisions", args=[w.ours.pk]), "buyer"),
    "inbox": (lambda w: reverse("contracts:inbox"), "buyer"),
    "products": (lambda w: reverse("schedules:products", args=[w.ours.pk]), "buyer"),
    "runs": (lambda w: reverse("schedules:runs", args=[w.ours.pk]), "buyer"),
    "audits": (lambda w: reverse("audits:audits", args=[w.ours.pk]), "buyer"),
    "findings": (lambda w: reverse("audits:findings", args=[w.ours.pk]), "buyer"),
    "meetings": (lambda w: reverse("comms:meetings", args=[w.ours.pk]), "buyer"),
    "actions": (lambda w: reverse("comms:actions", args=[w.ours.pk]), "buyer"),
    "my_actions": (lambda w: reverse("comms:my_actions"), "buyer"),
    "problems": (lambda w: reverse("comms:problems", args=[w.ours.pk]), "buyer"),
    "goals": (lambda w: reverse("comms:goals", args=[w.ours.pk]), "buyer"),
    "deliveries": (lambda w: reverse("webhooks:deliveries", args=[w.oem.pk]), "oem_admin"),
    "webhooks": (lambda w: reverse("webhooks:list", args=[w.oem.pk]), "oem_admin"),
    "api_keys": (lambda w: reverse("organization_api_keys", args=[w.oem.pk]), "oem_admin"),
    "api_tokens": (lambda w: reverse("api_tokens"), "buyer"),
    "members": (lambda w: reverse("organization_detail", args=[w.oem.pk]), "oem_admin"),
}


def page_url(world, page):
    return PAGES[page][0](world)


def page_user(world, page):
    return getattr(world, PAGES[page][1])


def _subscription(organization, partnership, user):
    sub = WebhookSubscription.objects.filter(organization=organization).first()
    return sub or WebhookSubscription.objects.create(
        organization=organization,
        partnership=partnership,
        url="https://erp.example/hook",
        events=["problem.raised"],
        secret="s" * 32,
        created_by=user,
    )


def _contract(partnership, drafted_by, user):
    n = next(_serial)
    return Contract(
        partnership=partnership,
        version=1000 + n,
        title=f"Agreement {n}",
        status=Contract.Status.SUPERSEDED,
        drafted_by=drafted_by,
        created_by=user,
    )


def seed_partnership(world, partnership, owner, n, *, title="Row"):
    """n rows of every partnership-bound list in ``partnership``, owned by ``owner``."""
    ensure_installed()
    template = AuditTemplate.objects.get(key="process-audit", version=1)
    now, today = timezone.now(), timezone.localdate()
    ids = [next(_serial) for _ in range(n)]
    contracts = Contract.objects.bulk_create(
        [_contract(partnership, partnership.oem, owner) for _ in ids]
    )
    DecisionRequest.objects.bulk_create(
        DecisionRequest(
            partnership=partnership,
            contract=contracts[0],
            number=i,
            title=f"{title} decision {i}",
            category="engineering_change",
            mode="oem_approval",
            status="awaiting_oem",
            due_at=now + dt.timedelta(days=1),
            raised_by=owner,
            raised_by_org=partnership.ems,
        )
        for i in ids
    )
    products = Product.objects.bulk_create(
        Product(partnership=partnership, part_number=f"PN-{i:06d}", name=f"{title} board {i}")
        for i in ids
    )
    ProductionRun.objects.bulk_create(
        ProductionRun(
            partnership=partnership,
            product=products[k],
            quantity=10 + k,
            planned_launch=today + dt.timedelta(days=k),
            due_date=today + dt.timedelta(days=k + 14),
            status="planned",
            priority=2,
        )
        for k in range(n)
    )
    audits = Audit.objects.bulk_create(
        Audit(
            partnership=partnership,
            template=template,
            kind="process",
            title=f"{title} audit {i}",
            planned_date=today,
            lead_auditor=owner,
        )
        for i in ids
    )
    Finding.objects.bulk_create(
        Finding(
            audit=audit,
            number=1,
            classification=["major", "minor", "observation"][k % 3],
            description=f"{title} finding {k}",
            response_due=today + dt.timedelta(days=k - 2),
            raised_by=owner,
        )
        for k, audit in enumerate(audits)
    )
    Meeting.objects.bulk_create(
        Meeting(
            partnership=partnership,
            kind="operations",
            title=f"{title} meeting {i}",
            start=now + dt.timedelta(days=1, minutes=i),
            end=now + dt.timedelta(days=1, minutes=i + 30),
            time_zone="UTC",
            organiser=owner,
            uid=f"{uuid.uuid4()}@test",
        )
        for i in ids
    )
    problems = Problem.objects.bulk_create(
        Problem(
            partnership=partnership,
            number=i,
            title=f"{title} problem {i}",
            description="Solder voids on U3",
            severity=["low", "medium", "high", "critical"][i % 4],
            owner=owner,
            raised_by=owner,
        )
        for i in ids
    )
    ActionItem.objects.bulk_create(
        ActionItem(
            partnership=partnership,
            problem=problems[k],
            title=f"{title} action {ids[k]}",
            owner=owner,
            due_date=today + dt.timedelta(days=k),
            created_by=owner,
        )
        for k in range(n)
    )
    Goal.objects.bulk_create(
        Goal(
            partnership=partnership,
            horizon="short",
            title=f"{title} goal {i}",
            metric="OTD",
            baseline=80,
            target=98,
            due_date=today,
            owner=owner,
        )
        for i in ids
    )
    Notification.objects.bulk_create(
        Notification(user=owner, partnership=partnership, subject=f"{title} notice {i}")
        for i in ids
    )
    sub = _subscription(partnership.oem, partnership, owner)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            subscription=sub, event="problem.raised", partnership=partnership, payload={"n": i}
        )
        for i in ids
    )


def seed_organization(organization, admin, user, n, *, title="Row"):
    """n members, API keys and webhooks of ``organization``, n API tokens of ``user``."""
    for _ in range(n):
        i = next(_serial)
        member(organization, Role.VIEWER, email=f"{title.lower()}-member-{i}@example.com")
        issue_api_key(
            by=admin,
            organization=organization,
            name=f"{title} key {i}",
            scopes=["*:read"],
            role=Role.VIEWER,
        )
        issue_api_token(user=user, name=f"{title} token {i}", expires_in_days=None)
        WebhookSubscription.objects.create(
            organization=organization,
            url=f"https://{title.lower()}.example/hook/{i}",
            events=["problem.raised"],
            secret="s" * 32,
            created_by=admin,
        )


def seed(world, n):
    """n rows in every list of ``ours`` (plus n partnerships of the OEM); one foreign row each."""
    seed_partnership(world, world.ours, world.buyer, n)
    seed_organization(world.oem, world.oem_admin, world.buyer, n)
    for _ in range(n):
        PartnershipFactory(oem=world.oem, ems=EMSFactory())
    if not Problem.objects.filter(partnership=world.theirs).exists():
        seed_partnership(world, world.theirs, world.outsider, 1, title="Foreign")
        seed_organization(world.other_oem, world.outsider, world.outsider, 1, title="Foreign")
