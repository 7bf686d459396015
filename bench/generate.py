"""Realistic bench data: ``python -m bench.generate --scale 1`` (or ``SCALE=10``).

At scale 1: 20 partnerships, 2,000 products with their NPI readiness, 52 weeks of demand (two
forecast versions, with their flex-term changes) and capacity per product, 5,000 production
runs, 2,000 meetings with attendees and ~80,000 reminders, 300 audits with answers, findings
and 8D actions, 5,000 problems with ~20,000 comments, plus contracts, decision requests, action
items, goals, KPIs, certificates and notifications. Scale N is N times that.

Sizes follow a Zipf law over the partnerships (a few big ones, a long tail), as in a real
portal; the benchmarks log in as the buyer of the biggest one (``bench-oem-000``).

The database is dropped, created and migrated, then filled with PostgreSQL ``COPY`` through
the real models' tables and columns (explicit ids, sequences reset afterwards). Services are
bypassed for speed, but the data keep every constraint: unique numbers, Monday weeks, one
readiness row per kind, due dates after launches, signed content hashes. Capacity alerts are
then computed by the real ``schedules.services.refresh_all_alerts``.

``--if-missing`` keeps an existing database that was generated at the same scale.
"""

import csv
import datetime as dt
import io
import json
import math
import random
import sys
import time
import uuid
import zoneinfo
from decimal import Decimal

from bench.common import configure, dsn_parts, scale_from

SEED = 20260301
NOW = None  # set in main(); every timestamp is relative to it


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


T0 = time.monotonic()


# --- database lifecycle ----------------------------------------------------------------------


def _admin_connection(url):
    import psycopg2

    parts = dsn_parts(url)
    conn = psycopg2.connect(**{**parts, "dbname": "postgres"})
    conn.autocommit = True
    return conn, parts["dbname"]


def existing_scale(url) -> int | None:
    """The scale the bench database was generated at, or None (missing or incomplete)."""
    import psycopg2

    conn, name = _admin_connection(url)
    with conn.cursor() as c:
        c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = c.fetchone()
    conn.close()
    if not exists:
        return None
    try:
        db = psycopg2.connect(**dsn_parts(url))
    except psycopg2.Error:
        return None
    try:
        with db.cursor() as c:
            c.execute("SELECT value FROM bench_meta WHERE key = 'scale'")
            row = c.fetchone()
            return int(row[0]) if row else None
    except psycopg2.Error:
        return None
    finally:
        db.close()


def recreate_database(url):
    conn, name = _admin_connection(url)
    with conn.cursor() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    conn.close()


# --- COPY through the models' metadata -------------------------------------------------------

NULL = "\\N"


class Table:
    """Rows as dicts keyed by attname; anything left out gets the field's default."""

    def __init__(self, model):
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.columns = [f.column for f in self.fields]
        self.rows = []
        self.total = 0
        from django.db import models

        self.convert = []
        for f in self.fields:
            if isinstance(f, models.JSONField):
                self.convert.append(json.dumps)
            elif isinstance(f, models.BooleanField):
                self.convert.append(lambda v: "t" if v else "f")
            else:
                self.convert.append(None)

    def _default(self, f):
        if f.primary_key:
            raise KeyError(f"{self.model.__name__}: give the id")
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            return NOW
        if f.has_default():
            return f.get_default()
        if f.null:
            return None
        if f.empty_strings_allowed:
            return ""
        raise KeyError(f"{self.model.__name__}.{f.attname} is required")

    def add(self, **values):
        row = []
        for f, conv in zip(self.fields, self.convert, strict=True):
            v = values[f.attname] if f.attname in values else self._default(f)
            if v is None:
                row.append(NULL)
            elif conv is not None:
                row.append(conv(v))
            else:
                row.append(v)
        self.rows.append(row)
        if len(self.rows) >= 50_000:
            self.flush()

    def flush(self):
        if not self.rows:
            return
        from django.db import connection

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(self.rows)
        buf.seek(0)
        cols = ", ".join(f'"{c}"' for c in self.columns)
        with connection.cursor() as cursor:
            cursor.copy_expert(
                f'COPY "{self.model._meta.db_table}" ({cols}) FROM STDIN '
                f"WITH (FORMAT csv, NULL '{NULL}')",
                buf,
            )
        self.total += len(self.rows)
        self.rows = []


class Writer:
    """One Table per model, explicit ids continuing after what migrations created."""

    def __init__(self):
        self.tables = {}
        self.next_ids = {}

    def id(self, model):
        if model not in self.next_ids:
            from django.db.models import Max

            self.next_ids[model] = (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1
        value = self.next_ids[model]
        self.next_ids[model] += 1
        return value

    def add(self, model, **values):
        if "id" not in values and model._meta.pk.attname == "id":
            values["id"] = self.id(model)
        if model not in self.tables:
            self.tables[model] = Table(model)
        self.tables[model].add(**values)
        return values["id"]

    def flush(self, *models):
        for model in models or list(self.tables):
            if model in self.tables:
                self.tables[model].flush()

    def finish(self):
        from django.core.management.color import no_style
        from django.db import connection

        self.flush()
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), list(self.tables)):
                cursor.execute(sql)
        return {m._meta.label: t.total for m, t in self.tables.items()}


# --- helpers ---------------------------------------------------------------------------------


def zipf(total: int, n: int) -> list[int]:
    """``total`` split over ``n`` buckets by weight 1/(rank+1), largest remainders rounded up."""
    weights = [1 / (k + 1) for k in range(n)]
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    counts = [int(r) for r in raw]
    for k in sorted(range(n), key=lambda k: raw[k] - counts[k], reverse=True)[
        : total - sum(counts)
    ]:
        counts[k] += 1
    return counts


def monday(day):
    return day - dt.timedelta(days=day.weekday())


ZONES = ["Europe/Berlin", "America/Chicago", "Europe/Warsaw", "Asia/Shanghai", "Europe/Paris"]
AREAS = [
    "Engineering",
    "Procurement",
    "Production",
    "Quality",
    "Logistics",
    "Test",
    "Compliance",
    "Finance",
]
ACTIVITIES = [
    "Design for manufacturing review",
    "Component sourcing",
    "Approved vendor list upkeep",
    "Stencil and fixture design",
    "First article inspection",
    "AOI programming",
    "ICT fixture maintenance",
    "Functional test",
    "Packaging specification",
    "Shipment and ASN",
    "Counterfeit avoidance",
    "Obsolescence monitoring",
    "RoHS/REACH declarations",
    "Inventory buffer",
    "Engineering change implementation",
]
RACI = [("A", "R"), ("RA", "I"), ("C", "RA"), ("I", "RA"), ("AC", "R"), ("R", "AC")]
WORDS = [
    "solder",
    "void",
    "reflow",
    "profile",
    "stencil",
    "aperture",
    "QFN",
    "BGA",
    "paste",
    "placement",
    "feeder",
    "nozzle",
    "AOI",
    "false",
    "call",
    "ICT",
    "fixture",
    "pin",
    "coverage",
    "FCT",
    "firmware",
    "label",
    "traceability",
    "lot",
    "shipment",
    "ASN",
    "packaging",
    "ESD",
    "MSL",
    "bake",
    "humidity",
    "cabinet",
    "supplier",
    "shortage",
    "allocation",
    "lead",
    "time",
    "substitute",
    "alternate",
    "MPN",
    "deviation",
    "rework",
    "scrap",
    "yield",
    "PPM",
    "audit",
    "finding",
    "containment",
    "root",
    "cause",
]
OEM_ROLES = ["buyer", "quality", "planner", "viewer", "admin"]
EMS_ROLES = ["account_manager", "planner", "quality", "viewer", "admin"]
FIRST = ["Anna", "Jonas", "Lena", "Peter", "Megan", "Carlos", "Dana", "Tom", "Ewa", "Piotr"]
LAST = ["Keller", "Brandt", "Vogt", "Nowak", "Foster", "Rivera", "Price", "Mazur", "Baker"]


def sentence(rng, n=8):
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


# --- the world -------------------------------------------------------------------------------


def generate(scale: int):
    global NOW
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from audits import scoring
    from audits.models import (
        Answer,
        Audit,
        AuditTemplate,
        Certificate,
        CorrectiveAction,
        Finding,
        KpiRecord,
        SupplierProfile,
        TemplateQuestion,
    )
    from comms import recurrence
    from comms.models import (
        ActionItem,
        Goal,
        GoalMeasurement,
        Meeting,
        Problem,
        ProblemComment,
        Reminder,
    )
    from contracts import services as contract_services
    from contracts.models import (
        Category,
        Contract,
        DecisionEvent,
        DecisionMode,
        DecisionRequest,
        DecisionRule,
        FlexBand,
        ResponsibilityItem,
    )
    from partnership.models import Membership, Notification, Organization, Partnership, User
    from schedules import flex
    from schedules.models import (
        CapacityPlan,
        DemandChange,
        DemandLine,
        DemandPublication,
        Product,
        ProductionRun,
        ReadinessItem,
    )
    from schedules.services import refresh_all_alerts

    rng = random.Random(SEED)
    NOW = timezone.now().replace(microsecond=0)
    today = NOW.date()
    this_monday = monday(today)
    w = Writer()

    n_partnerships = 20 * scale
    n_oem = 4 * math.ceil(math.sqrt(scale))
    n_ems = math.ceil(n_partnerships / n_oem)
    password = make_password("bench-password")

    # Organisations, people, memberships ------------------------------------------------------
    orgs = {}  # ("oem"|"ems", i) -> id
    people = {}  # org id -> {role: user id}
    for kind, count, roles in (("oem", n_oem, OEM_ROLES), ("ems", n_ems, EMS_ROLES)):
        for i in range(count):
            slug = f"bench-{kind}-{i:03d}"
            oid = w.add(
                Organization,
                name=f"Bench {kind.upper()} {i:03d} {'GmbH' if kind == 'oem' else 'Sp. z o.o.'}",
                slug=slug,
                kind=kind,
                country="DE" if kind == "oem" else "PL",
                founded_year=1980 + i % 40,
                time_zone=ZONES[i % len(ZONES)],
            )
            orgs[(kind, i)] = oid
            people[oid] = {}
            for role in roles:
                uid = w.add(
                    User,
                    email=f"{role.replace('_', '.')}@{slug}.example",
                    password=password,
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                    is_active=True,
                    date_joined=NOW - dt.timedelta(days=800),
                )
                people[oid][role] = uid
                w.add(Membership, user_id=uid, organization_id=oid, role=role)
    # An ERP integration account of the OEM group: member of every OEM (like the demo's group
    # buyer), used by the API sync benchmark.
    erp = w.add(
        User,
        email="erp@bench-group.example",
        password=password,
        first_name="ERP",
        last_name="Integration",
        date_joined=NOW - dt.timedelta(days=800),
    )
    for i in range(n_oem):
        w.add(Membership, user_id=erp, organization_id=orgs[("oem", i)], role="buyer")

    # Partnerships: k -> (OEM k % n_oem, EMS k // n_oem); rank k is its Zipf size -------------
    partnerships = []
    for k in range(n_partnerships):
        oem, ems = orgs[("oem", k % n_oem)], orgs[("ems", k // n_oem)]
        pid = w.add(
            Partnership,
            oem_id=oem,
            ems_id=ems,
            status="active" if k % 10 != 9 else "prospect",
            start_date=today - dt.timedelta(days=300 + 20 * k),
            description=f"SMT, THT and box build for product family {k:03d}.",
            oem_contact_id=people[oem]["buyer"],
            ems_contact_id=people[ems]["account_manager"],
        )
        partnerships.append(
            {
                "k": k,
                "id": pid,
                "oem": oem,
                "ems": ems,
                "people": list(people[oem].values()) + list(people[ems].values()),
                "oem_buyer": people[oem]["buyer"],
                "oem_quality": people[oem]["quality"],
                "ems_am": people[ems]["account_manager"],
                "ems_quality": people[ems]["quality"],
                "tz": ZONES[(k % n_oem) % len(ZONES)],
            }
        )
    w.flush()
    log(f"{len(orgs)} organisations, {n_partnerships} partnerships")

    # Contracts: one signed, active version each; the biggest partnership's has 200 matrix
    # rows and 100 rules (the contract-PDF benchmark) ------------------------------------------
    bands = [(4, 8, "10.0", "5.0"), (9, 16, "25.0", "15.0"), (17, None, "50.0", "40.0")]
    categories = list(Category.values)
    for p in partnerships:
        big = p["k"] == 0
        cid = w.add(
            Contract,
            partnership_id=p["id"],
            version=1,
            title="Manufacturing services agreement",
            status="active",
            effective_from=today - dt.timedelta(days=365),
            effective_until=today + dt.timedelta(days=730),
            currency="EUR",
            frozen_zone_weeks=4,
            default_decision_mode=DecisionMode.CONSULT_OEM,
            capacity_warning_pct=90,
            capacity_critical_pct=100,
            drafted_by_id=p["oem"],
            created_by_id=p["oem_buyer"],
            proposed_at=NOW - dt.timedelta(days=380),
            proposed_by_id=p["oem_buyer"],
            oem_signed_by_id=p["oem_buyer"],
            oem_signed_at=NOW - dt.timedelta(days=370),
            ems_signed_by_id=p["ems_am"],
            ems_signed_at=NOW - dt.timedelta(days=366),
            activated_at=NOW - dt.timedelta(days=365),
        )
        p["contract"] = cid
        p["bands"] = [flex.Band(a, b, Decimal(i), Decimal(d)) for a, b, i, d in bands]
        for a, b, inc, dec in bands:
            w.add(
                FlexBand,
                contract_id=cid,
                from_week=a,
                to_week=b,
                max_increase_pct=inc,
                max_decrease_pct=dec,
            )
        for n in range(200 if big else 20):
            oem_l, ems_l = RACI[n % len(RACI)]
            w.add(
                ResponsibilityItem,
                contract_id=cid,
                area=AREAS[n % len(AREAS)],
                activity=f"{ACTIVITIES[n % len(ACTIVITIES)]} ({n + 1})",
                oem=oem_l,
                ems=ems_l,
                position=n,
            )
        p["rules"] = []
        for n in range(100 if big else 10):
            rid = w.add(
                DecisionRule,
                contract_id=cid,
                category=categories[n % len(categories)],
                min_cost_impact=Decimal(1000 * (n % 7)) if n % 3 == 0 else None,
                min_delay_days=(n % 5) * 3 if n % 4 == 1 else None,
                if_safety_critical=n % 5 == 2,
                if_ipc_class3=n % 7 == 3,
                outcome=[
                    DecisionMode.EMS_DECIDES,
                    DecisionMode.CONSULT_OEM,
                    DecisionMode.OEM_APPROVAL,
                ][n % 3],
                response_hours=[24, 48, 72][n % 3],
                silence_is_consent=n % 4 == 0,
                clause_ref=f"§{4 + n // 10}.{n % 10 + 1}",
                clause_text=sentence(rng, 24),
                position=n,
            )
            p["rules"].append(rid)

    # Decision requests (1,000 × scale) -------------------------------------------------------
    statuses = ["awaiting_oem", "approved", "decided_by_ems", "acknowledged", "overdue", "rejected"]
    for p, count in zip(partnerships, zipf(1000 * scale, n_partnerships), strict=True):
        for n in range(1, count + 1):
            status = statuses[n % len(statuses)]
            created = NOW - dt.timedelta(days=rng.uniform(0, 400))
            due = created + dt.timedelta(hours=72)
            if status == "awaiting_oem":
                created, due = NOW - dt.timedelta(hours=10), NOW + dt.timedelta(hours=62)
            drid = w.add(
                DecisionRequest,
                partnership_id=p["id"],
                contract_id=p["contract"],
                number=n,
                title=sentence(rng, 5),
                description=sentence(rng, 30),
                category=rng.choice(categories),
                cost_impact=Decimal(rng.randint(0, 20000)),
                mode=DecisionMode.EMS_DECIDES if status == "decided_by_ems" else "consult_oem",
                routing_explanation="No rule covers this; the contract's default applies.",
                response_hours=72,
                due_at=None if status == "decided_by_ems" else due,
                status=status,
                raised_by_id=p["ems_am"],
                raised_by_org_id=p["ems"],
                answered_by_id=p["oem_buyer"] if status in ("approved", "rejected") else None,
                answered_at=due - dt.timedelta(hours=5)
                if status in ("approved", "rejected")
                else None,
                created_at=created,
                updated_at=created,
            )
            w.add(
                DecisionEvent,
                request_id=drid,
                kind="raised",
                actor_id=p["ems_am"],
                created_at=created,
            )
    w.flush()
    log("contracts and decision requests")

    # Products and readiness (2,000 × scale) ---------------------------------------------------
    kinds = list(ReadinessItem.Kind.values)
    for p, count in zip(partnerships, zipf(2000 * scale, n_partnerships), strict=True):
        p["products"] = []
        for j in range(count):
            released = rng.random() < 0.7
            updated = NOW - dt.timedelta(days=rng.uniform(0, 200))
            prod = w.add(
                Product,
                partnership_id=p["id"],
                part_number=f"PN-{p['k']:03d}-{j:05d}",
                revision=rng.choice("ABC"),
                name=f"{rng.choice(['Main board', 'PSU', 'Sensor IF', 'Controller', 'Display'])} {j}",
                ipc_class=rng.choice([2, 2, 3]),
                units_per_hour=Decimal(rng.randint(20, 120)),
                external_id=f"SAP-{p['k']}-{j}",
                released_at=updated if released else None,
                released_by_id=p["ems_am"] if released else None,
                created_at=updated - dt.timedelta(days=30),
                updated_at=updated,
            )
            p["products"].append((prod, released))
            for kind in kinds:
                status = (
                    "approved"
                    if released
                    else rng.choice(["approved", "approved", "submitted", "missing", "rejected"])
                )
                w.add(
                    ReadinessItem,
                    product_id=prod,
                    kind=kind,
                    required=kind != "inspection_scope" or released,
                    status=status,
                    rejection_reason="Alternates missing MPNs." if status == "rejected" else "",
                    reviewed_by_id=p["ems_am"] if status in ("approved", "rejected") else None,
                    reviewed_at=updated if status in ("approved", "rejected") else None,
                    updated_at=updated,
                )
    w.flush()
    log(f"{w.tables[Product].total} products, {w.tables[ReadinessItem].total} readiness items")

    # Production runs (5,000 × scale) ----------------------------------------------------------
    for p, count in zip(partnerships, zipf(5000 * scale, n_partnerships), strict=True):
        p["runs"] = []
        for _ in range(count):
            prod, released = rng.choice(p["products"])
            launch = this_monday + dt.timedelta(weeks=rng.randint(-26, 26), days=rng.randint(0, 4))
            due = launch + dt.timedelta(days=rng.randint(5, 25))
            if due < today:
                status = "completed" if rng.random() < 0.9 else "cancelled"
            elif launch <= today:
                status = "in_production" if released else "planned"
            else:
                status = "confirmed" if released and rng.random() < 0.6 else "planned"
            confirmed = status in ("confirmed", "in_production", "completed")
            updated = NOW - dt.timedelta(days=rng.uniform(0, 90))
            rid = w.add(
                ProductionRun,
                partnership_id=p["id"],
                product_id=prod,
                external_id=None,
                quantity=rng.choice([250, 500, 1000, 1500, 2500, 5000]),
                planned_launch=launch,
                due_date=due,
                status=status,
                priority=rng.choice([1, 2, 2, 2, 3, 4]),
                confirmed_by_id=p["ems_am"] if confirmed else None,
                confirmed_at=updated if confirmed else None,
                created_at=updated - dt.timedelta(days=20),
                updated_at=updated,
            )
            p["runs"].append(rid)
    w.flush()
    log(f"{w.tables[ProductionRun].total} production runs")

    # Demand (two versions × 52 weeks × product), changes, capacity per product line -----------
    weeks = [this_monday + dt.timedelta(weeks=i - 8) for i in range(52)]
    for p in partnerships:
        v1_ref = this_monday - dt.timedelta(weeks=2)
        pubs = []
        for version, ref, when in (
            (1, v1_ref, NOW - dt.timedelta(days=14)),
            (2, this_monday, NOW - dt.timedelta(hours=3)),
        ):
            pubs.append(
                w.add(
                    DemandPublication,
                    partnership_id=p["id"],
                    version=version,
                    published_by_id=p["oem_buyer"],
                    published_at=when,
                    reference_week=ref,
                    note=f"Rolling forecast v{version}",
                )
            )
        maintenance = set(rng.sample(range(8, 52), 2))
        for prod, _released in p["products"]:
            base = rng.randint(50, 2000)
            headroom = rng.uniform(1.0, 1.35)
            for i, week in enumerate(weeks):
                q1 = max(0, int(base * rng.uniform(0.8, 1.2)))
                q2 = q1
                weeks_out = (week - this_monday).days // 7
                if weeks_out >= 4 and rng.random() < 0.1:  # the frozen zone rarely moves
                    # Most revisions stay inside the flex bands; one in a hundred breaks them.
                    q2 = int(q1 * (rng.choice([0.4, 1.8]) if rng.random() < 0.01 else 1.04))
                w.add(DemandLine, publication_id=pubs[0], product_id=prod, week=week, quantity=q1)
                w.add(DemandLine, publication_id=pubs[1], product_id=prod, week=week, quantity=q2)
                if q2 != q1:
                    verdict, band = flex.classify(q1, q2, weeks_out, p["bands"], 4)
                    w.add(
                        DemandChange,
                        publication_id=pubs[1],
                        product_id=prod,
                        week=week,
                        weeks_out=weeks_out,
                        previous_quantity=q1,
                        new_quantity=q2,
                        verdict=verdict,
                        band_label=band.label if band else "",
                        max_increase_pct=band.max_increase_pct if band else None,
                        max_decrease_pct=band.max_decrease_pct if band else None,
                    )
                factor = headroom * (0.7 if i in maintenance else 1.0)
                w.add(
                    CapacityPlan,
                    partnership_id=p["id"],
                    week=week,
                    line=f"PN-{p['k']:03d}-{prod}"[:40],
                    amount=Decimal(int(q2 * factor)),
                    unit="units",
                    updated_at=NOW - dt.timedelta(seconds=rng.uniform(0, 90 * 86400)),
                )
    w.flush()
    log(
        f"{w.tables[DemandLine].total} demand lines, {w.tables[DemandChange].total} changes, "
        f"{w.tables[CapacityPlan].total} capacity rows"
    )

    # Meetings, attendees and reminders (2,000 × scale) ---------------------------------------
    through = Meeting.attendees.through
    horizon = NOW + dt.timedelta(days=35)
    for p, count in zip(partnerships, zipf(2000 * scale, n_partnerships), strict=True):
        tz = zoneinfo.ZoneInfo(p["tz"])
        for _ in range(count):
            day = today + dt.timedelta(days=rng.randint(-300, 60))
            day -= dt.timedelta(days=max(0, day.weekday() - 4))
            start = dt.datetime.combine(day, dt.time(rng.choice([9, 10, 14, 15]), 0), tz)
            series = rng.random() < 0.45
            organiser, *attendees = rng.sample(p["people"], 5)
            m = Meeting(
                start=start,
                end=start + dt.timedelta(minutes=rng.choice([30, 45, 60])),
                time_zone=p["tz"],
                rrule="FREQ=WEEKLY;COUNT=10" if series else "",
            )
            cancelled = rng.random() < 0.03
            mid = w.add(
                Meeting,
                partnership_id=p["id"],
                kind=rng.choice(["operations", "operations", "quality", "business", "ad_hoc"]),
                title=f"{rng.choice(['Weekly ops call', 'Quality review', 'NPI sync', 'QBR'])}",
                description=sentence(rng, 12),
                start=m.start,
                end=m.end,
                time_zone=m.time_zone,
                rrule=m.rrule,
                last_end=m.compute_last_end(),
                organiser_id=organiser,
                status="cancelled" if cancelled else "scheduled",
                uid=f"{uuid.UUID(int=rng.getrandbits(128))}@oem-ems-portal",
                created_at=m.start - dt.timedelta(days=14),
                updated_at=m.start - dt.timedelta(days=14),
            )
            for uid in attendees:
                w.add(through, meeting_id=mid, user_id=uid)
            if cancelled:
                continue
            for occ, _end in recurrence.occurrences(m):
                if occ > horizon:
                    break  # planned ahead only as far as the planning horizon
                for uid in (organiser, *attendees):
                    for offset in (24 * 60, 60):
                        due = occ - dt.timedelta(minutes=offset)
                        w.add(
                            Reminder,
                            meeting_id=mid,
                            occurrence_start=occ,
                            recipient_id=uid,
                            offset_minutes=offset,
                            due_at=due,
                            # Past reminders went out; the last hour's wait in the due queue.
                            sent_at=due + dt.timedelta(seconds=40)
                            if due < NOW - dt.timedelta(hours=1)
                            else None,
                        )
    w.flush()
    log(f"{w.tables[Meeting].total} meetings, {w.tables[Reminder].total} reminders")

    # Audits with answers, findings and 8D actions (300 × scale) -------------------------------
    templates = {t.key: t for t in AuditTemplate.objects.filter(is_current=True)}
    questions = {}
    sections = {}
    for t in templates.values():
        qs = list(
            TemplateQuestion.objects.filter(section__template=t)
            .select_related("section")
            .order_by("section__position", "position")
        )
        questions[t.key] = qs
        grouped = {}
        for q in qs:
            grouped.setdefault((q.section.position, q.section.code, q.section.title), []).append(
                (q.pk, q.code, q.starred)
            )
        sections[t.key] = [(c, title, qq) for (_pos, c, title), qq in sorted(grouped.items())]
    kind_template = {
        "process": "process-audit",
        "quality": "iso9001-qms",
        "preliminary": "preliminary-analysis",
        "follow_up": "process-audit",
    }
    for p, count in zip(partnerships, zipf(300 * scale, n_partnerships), strict=True):
        for n in range(count):
            kind = rng.choice(list(kind_template))
            tkey = kind_template[kind]
            template = templates[tkey]
            planned = today + dt.timedelta(days=rng.randint(-700, 90))
            if planned > today:
                status = "planned"
            elif planned > today - dt.timedelta(days=20):
                status = "in_progress"
            else:
                status = "closed" if rng.random() < 0.7 else "report_issued"
            if p["k"] == 0 and n == 0:  # the audit-report benchmark: a full, issued audit
                status, planned = "report_issued", today - dt.timedelta(days=30)
            done = status in ("closed", "report_issued")
            aid = w.id(Audit)
            scale_points = list(template.scale)
            oem_answers, ems_answers = {}, {}
            if status != "planned":
                self_assessment = rng.random() < 0.7 or (p["k"] == 0 and n == 0)
                for q in questions[tkey]:
                    if not done and rng.random() < 0.5:
                        continue
                    oem_answers[q.pk] = rng.choice(scale_points[-3:] + scale_points[-2:])
                    w.add(
                        Answer,
                        audit_id=aid,
                        question_id=q.pk,
                        side="oem",
                        score=oem_answers[q.pk],
                        notes=sentence(rng, 6) if rng.random() < 0.3 else "",
                        answered_by_id=p["oem_quality"],
                    )
                    if self_assessment:
                        ems_answers[q.pk] = rng.choice(scale_points[-2:])
                        w.add(
                            Answer,
                            audit_id=aid,
                            question_id=q.pk,
                            side="ems",
                            score=ems_answers[q.pk],
                            answered_by_id=p["ems_quality"],
                        )
            result = (
                scoring.score(
                    sections[tkey],
                    oem_answers,
                    scheme=template.scheme,
                    max_points=max(template.scale or [10]),
                )
                if done
                else None
            )
            w.add(
                Audit,
                id=aid,
                partnership_id=p["id"],
                template_id=template.pk,
                kind=kind,
                title=f"{template.name} {planned:%Y-%m}",
                planned_date=planned,
                actual_date=planned if status != "planned" else None,
                lead_auditor_id=p["oem_quality"],
                status=status,
                summary=sentence(rng, 20) if done else "",
                score_pct=result.pct if result else None,
                grade=result.grade if result else "",
                grade_reasons=result.reasons if result else [],
                report_issued_at=NOW - dt.timedelta(days=(today - planned).days - 5)
                if done
                else None,
                closed_at=NOW - dt.timedelta(days=max(1, (today - planned).days - 60))
                if status == "closed"
                else None,
                created_at=NOW - dt.timedelta(days=(today - planned).days + 30),
                updated_at=NOW - dt.timedelta(days=max(0, (today - planned).days - 60)),
            )
            if not done:
                continue
            n_findings = 6 if (p["k"] == 0 and n == 0) else rng.randint(0, 6)
            for number in range(1, n_findings + 1):
                cls = rng.choice(["major", "minor", "minor", "observation"])
                f_status = "closed" if status == "closed" else rng.choice(["open", "submitted"])
                fid = w.add(
                    Finding,
                    audit_id=aid,
                    partnership_id=p["id"],
                    number=number,
                    classification=cls,
                    clause=rng.choice(["6.2.1", "7.1.5", "8.5.1", "P6.4", "P7.2"]),
                    description=sentence(rng, 18),
                    evidence=sentence(rng, 10),
                    status=f_status,
                    response_due=planned + dt.timedelta(days=14),
                    raised_by_id=p["oem_quality"],
                    closed_by_id=p["oem_quality"] if f_status == "closed" else None,
                    closed_at=NOW - dt.timedelta(days=10) if f_status == "closed" else None,
                )
                if cls == "observation":
                    continue
                steps_done = 7 if f_status != "open" else rng.randint(0, 6)
                steps = {
                    str(s): {
                        "text": sentence(rng, 10),
                        "done_at": (NOW - dt.timedelta(days=30 - s)).isoformat(),
                        "done_by": p["ems_quality"],
                    }
                    for s in range(1, steps_done + 1)
                }
                if f_status == "closed":
                    steps["8"] = {
                        "text": "Verified on site.",
                        "done_at": (NOW - dt.timedelta(days=10)).isoformat(),
                        "done_by": p["oem_quality"],
                    }
                w.add(
                    CorrectiveAction,
                    finding_id=fid,
                    owner_id=p["ems_quality"],
                    due_date=planned + dt.timedelta(days=45),
                    status={"closed": "verified", "submitted": "submitted"}.get(f_status, "open"),
                    steps=steps,
                    verified_by_id=p["oem_quality"] if f_status == "closed" else None,
                    verified_at=NOW - dt.timedelta(days=10) if f_status == "closed" else None,
                )
    w.flush()
    log(
        f"{w.tables[Audit].total} audits, {w.tables[Answer].total} answers, "
        f"{w.tables[Finding].total} findings"
    )

    # Problems with comments (5,000 × scale), action items (1,000 × scale) ---------------------
    for p, count in zip(partnerships, zipf(5000 * scale, n_partnerships), strict=True):
        for number in range(1, count + 1):
            created = NOW - dt.timedelta(days=rng.uniform(0, 700))
            status = rng.choice(["open", "investigating", "resolved", "closed", "closed", "closed"])
            prod = rng.choice(p["products"])[0] if p["products"] and rng.random() < 0.3 else None
            prob = w.add(
                Problem,
                partnership_id=p["id"],
                number=number,
                title=sentence(rng, 6)[:200],
                description=sentence(rng, 40),
                severity=rng.choice(["low", "medium", "medium", "high", "critical"]),
                status=status,
                owner_id=rng.choice(p["people"]),
                raised_by_id=rng.choice(p["people"]),
                resolution=sentence(rng, 15) if status in ("resolved", "closed") else "",
                product_id=prod,
                created_at=created,
                updated_at=created + dt.timedelta(days=3),
            )
            for c in range(rng.randint(0, 8)):
                w.add(
                    ProblemComment,
                    problem_id=prob,
                    author_id=rng.choice(p["people"]),
                    text=sentence(rng, rng.randint(5, 40)),
                    created_at=created + dt.timedelta(hours=6 * (c + 1)),
                )
    for p, count in zip(partnerships, zipf(1000 * scale, n_partnerships), strict=True):
        for _ in range(count):
            due = today + dt.timedelta(days=rng.randint(-120, 60))
            w.add(
                ActionItem,
                partnership_id=p["id"],
                title=sentence(rng, 7),
                owner_id=rng.choice(p["people"]),
                due_date=due,
                status="open" if due > today or rng.random() < 0.2 else "done",
                created_by_id=p["oem_buyer"],
            )
    w.flush()
    log(f"{w.tables[Problem].total} problems, {w.tables[ProblemComment].total} comments")

    # Goals, KPIs, supplier profiles and certificates, notifications --------------------------
    for p in partnerships:
        for g in range(3):
            gid = w.add(
                Goal,
                partnership_id=p["id"],
                horizon="short" if g < 2 else "long",
                title=["On-time delivery", "Field PPM", "Lead time"][g],
                metric=["OTD", "PPM", "days"][g],
                unit=["%", "ppm", "d"][g],
                baseline=Decimal([88, 450, 42][g]),
                target=Decimal([98, 150, 28][g]),
                current=Decimal([93, 320, 35][g]),
                due_date=today + dt.timedelta(days=180),
                owner_id=p["oem_buyer"],
            )
            for m in range(6):
                w.add(
                    GoalMeasurement,
                    goal_id=gid,
                    date=today - dt.timedelta(days=30 * (6 - m)),
                    value=Decimal(rng.randint(30, 500)),
                )
        first = today.replace(day=1)
        for m in range(12):
            month = (first - dt.timedelta(days=31 * (m + 1))).replace(day=1)
            due = rng.randint(40, 60)
            delivered = rng.randint(9000, 14000)
            w.add(
                KpiRecord,
                partnership_id=p["id"],
                month=month,
                lines_due=due,
                lines_on_time=due - rng.randint(0, 5),
                units_delivered=delivered,
                units_nonconforming=rng.randint(0, 6),
            )
    for i in range(n_ems):
        oid = orgs[("ems", i)]
        w.add(
            SupplierProfile,
            organization_id=oid,
            sites="Gdańsk, PL — 6,500 m²",
            smt_lines=5,
            capabilities=["smt", "tht", "bga", "ict", "fct"],
            employees=420,
        )
        for standard, days in (("iso9001", 540), ("iso13485", 25), ("ipc_a_610", 300)):
            w.add(
                Certificate,
                organization_id=oid,
                standard=standard,
                number=f"{standard.upper()}-{i:04d}",
                issuer="TÜV Rheinland Polska",
                valid_from=today - dt.timedelta(days=1095 - days),
                valid_until=today + dt.timedelta(days=days),
            )
    bench_user = partnerships[0]["oem_buyer"]
    for n in range(300):
        w.add(
            Notification,
            user_id=bench_user,
            partnership_id=partnerships[0]["id"],
            subject=sentence(rng, 6)[:200],
            url=f"/partnerships/{partnerships[0]['id']}/",
            read_at=None if n < 20 else NOW - dt.timedelta(days=n),
            created_at=NOW - dt.timedelta(days=n),
        )
    counts = w.finish()
    log("goals, KPIs, certificates, notifications; sequences reset")

    # What only the real code computes: signed content hashes, capacity alerts ----------------
    for contract in Contract.objects.select_related("partnership").prefetch_related(
        "flex_bands", "matrix", "rules"
    ):
        Contract.objects.filter(pk=contract.pk).update(
            content_hash=contract_services.content_hash(contract)
        )
    with transaction.atomic():
        refresh_all_alerts()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
        cursor.execute(
            "INSERT INTO bench_meta VALUES ('scale', %s), ('generated_at', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [str(scale), NOW.isoformat()],
        )
    log("content hashes and capacity alerts (real services)")
    return counts


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    scale = scale_from(argv)
    url = configure(scale)
    if "--if-missing" in argv and existing_scale(url) == scale:
        print(f"bench data at scale {scale} already in {url}; keeping it (migrated)")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # e.g. the indexes added since it was generated
        return
    print(f"Generating bench data at scale {scale} into {url}")
    recreate_database(url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    log("migrated")
    # One transaction: Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so the tables
    # can be copied in any order and are checked once, at the commit.
    with transaction.atomic():
        counts = generate(scale)
    connection.close()
    import psycopg2

    db = psycopg2.connect(**dsn_parts(url))
    db.autocommit = True
    with db.cursor() as c:
        c.execute("VACUUM ANALYZE")
    db.close()
    log("VACUUM ANALYZE")
    total = sum(counts.values())
    print(f"{total:,} rows in {time.monotonic() - T0:.0f} s:")
    for label, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"  {label:40s} {n:>10,}")


if __name__ == "__main__":
    main()
