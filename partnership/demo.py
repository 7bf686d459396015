"""Realistic demo data: two OEMs, two EMS, three partnerships, a user for every role.

Idempotent: running it again updates nothing that exists and creates what is missing.
"""

from datetime import date

from allauth.account.models import EmailAddress
from django.db import transaction

from .models import Membership, Organization, Partnership, Role, User

DEMO_PASSWORD = "portal-demo-2026"

ORGANIZATIONS = [
    # slug, name, kind, country, website, founded, time zone
    (
        "nordwind",
        "Nordwind Medical GmbH",
        "oem",
        "DE",
        "https://nordwind.example",
        1998,
        "Europe/Berlin",
    ),
    (
        "aurora",
        "Aurora Instruments Inc.",
        "oem",
        "US",
        "https://aurora.example",
        2009,
        "America/Chicago",
    ),
    (
        "baltic",
        "Baltic Assembly Sp. z o.o.",
        "ems",
        "PL",
        "https://baltic-assembly.example",
        2001,
        "Europe/Warsaw",
    ),
    (
        "vistula",
        "Vistula Electronics S.A.",
        "ems",
        "PL",
        "https://vistula.example",
        1992,
        "Europe/Warsaw",
    ),
]

OEM_ROLES = [Role.BUYER, Role.QUALITY, Role.VIEWER, Role.ADMIN]
EMS_ROLES = [Role.ACCOUNT_MANAGER, Role.PLANNER, Role.QUALITY, Role.VIEWER, Role.ADMIN]

PEOPLE = {
    "nordwind": {
        "buyer": ("Anna", "Keller"),
        "quality": ("Jonas", "Brandt"),
        "viewer": ("Lena", "Vogt"),
        "admin": ("Peter", "Hartmann"),
    },
    "aurora": {
        "buyer": ("Megan", "Foster"),
        "quality": ("Carlos", "Rivera"),
        "viewer": ("Dana", "Price"),
        "admin": ("Tom", "Baker"),
    },
    "baltic": {
        "account_manager": ("Katarzyna", "Nowak"),
        "planner": ("Piotr", "Wiśniewski"),
        "quality": ("Agnieszka", "Wójcik"),
        "viewer": ("Marek", "Kamiński"),
        "admin": ("Tomasz", "Lewandowski"),
    },
    "vistula": {
        "account_manager": ("Magdalena", "Zielińska"),
        "planner": ("Paweł", "Szymański"),
        "quality": ("Ewa", "Dąbrowska"),
        "viewer": ("Michał", "Kozłowski"),
        "admin": ("Joanna", "Mazur"),
    },
}

PARTNERSHIPS = [
    (
        "nordwind",
        "baltic",
        Partnership.Status.ACTIVE,
        date(2021, 3, 1),
        "SMT and THT assembly of patient-monitor main boards and power supplies, IPC-A-610 class 3.",
    ),
    (
        "nordwind",
        "vistula",
        Partnership.Status.PROSPECT,
        None,
        "Second source for infusion-pump controller boards; preliminary analysis under way.",
    ),
    (
        "aurora",
        "baltic",
        Partnership.Status.ACTIVE,
        date(2023, 9, 15),
        "Box build of laboratory analyser control units including conformal coating and FCT.",
    ),
]


def demo_email(slug: str, role: str) -> str:
    return f"{role.replace('_', '.')}@{slug}.example"


def _user(email, first, last, time_zone=""):
    user, created = User.objects.get_or_create(
        email=email, defaults={"first_name": first, "last_name": last, "time_zone": time_zone}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


@transaction.atomic
def load_demo_data() -> list[tuple[str, str, str]]:
    """Create the demo world; returns (organisation, role, e-mail) for every demo login."""
    orgs = {}
    for slug, name, kind, country, website, founded, tz in ORGANIZATIONS:
        orgs[slug], _ = Organization.objects.get_or_create(
            slug=slug,
            defaults=dict(
                name=name,
                kind=kind,
                country=country,
                website=website,
                founded_year=founded,
                time_zone=tz,
            ),
        )
    logins = []
    users = {}
    for slug, org in orgs.items():
        roles = OEM_ROLES if org.kind == Organization.Kind.OEM else EMS_ROLES
        for role in roles:
            first, last = PEOPLE[slug][role]
            user = _user(demo_email(slug, role), first, last)
            Membership.objects.get_or_create(user=user, organization=org, defaults={"role": role})
            users[(slug, role)] = user
            logins.append((org.name, Role(role).label, user.email))
    # A group buyer working for both OEMs shows the organisation switcher.
    group = _user(
        "group.buyer@oem-group.example", "Sofia", "Lindqvist", time_zone="Europe/Stockholm"
    )
    for slug in ("nordwind", "aurora"):
        Membership.objects.get_or_create(
            user=group, organization=orgs[slug], defaults={"role": Role.BUYER}
        )
    logins.append(("Nordwind + Aurora", Role.BUYER.label, group.email))

    for oem, ems, status, start, scope in PARTNERSHIPS:
        oem_contact = users[(oem, Role.BUYER)]
        ems_contact = users[(ems, Role.ACCOUNT_MANAGER)]
        Partnership.objects.get_or_create(
            oem=orgs[oem],
            ems=orgs[ems],
            defaults=dict(
                status=status,
                start_date=start,
                description=scope,
                oem_contact=oem_contact,
                ems_contact=ems_contact,
            ),
        )

    admin = _user("admin@portal.example", "Portal", "Administrator")
    if not admin.is_superuser:
        admin.is_staff = admin.is_superuser = True
        admin.save(update_fields=["is_staff", "is_superuser"])
    logins.append(("—", "Django admin (staff)", admin.email))

    from contracts import demo as contracts_demo

    contracts_demo.load()

    from schedules import demo as schedules_demo

    schedules_demo.load()

    from audits import demo as audits_demo

    audits_demo.load()

    from comms import demo as comms_demo

    comms_demo.load()
    return logins
