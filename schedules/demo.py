"""Demo products, runs, capacity and two forecast versions for Nordwind ↔ Baltic."""

import datetime as dt
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone

from partnership.models import Partnership, User

from . import services
from .models import ReadinessItem

PRODUCTS = [
    ("MB-200", "C", "Patient monitor main board", 3, 40),
    ("PSU-40", "B", "40 W medical power supply", 3, 55),
    ("IO-12", "A", "Sensor interface board", 2, 90),
]


def load() -> None:
    p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
    if p.products.exists():
        return
    buyer = User.objects.get(email="buyer@nordwind.example")
    am = User.objects.get(email="account.manager@baltic.example")
    planner = User.objects.get(email="planner@baltic.example")
    products = {}
    for pn, rev, name, ipc, rate in PRODUCTS:
        products[pn] = services.save_product(
            by=buyer,
            partnership=p,
            part_number=pn,
            revision=rev,
            name=name,
            ipc_class=ipc,
            units_per_hour=rate,
            external_id=f"SAP-{pn}",
        )
    # MB-200: complete package, released. PSU-40: Gerbers missing. IO-12: BOM rejected.
    for pn, skip in (("MB-200", None), ("PSU-40", ReadinessItem.Kind.GERBER), ("IO-12", None)):
        for item in products[pn].readiness.all():
            if item.kind == skip:
                continue
            upload = ContentFile(
                f"{pn} {item.kind} demo document\n".encode(), name=f"{pn}-{item.kind}.pdf"
            )
            services.upload_readiness_file(by=buyer, item=item, upload=upload)
            reject = pn == "IO-12" and item.kind == ReadinessItem.Kind.BOM
            services.review_readiness_item(
                by=am,
                item=item,
                approve=not reject,
                reason="Alternates for U7 missing MPNs." if reject else "",
            )
    services.release_for_launch(by=am, product=products["MB-200"])

    today = timezone.localdate()
    monday = services.monday(today)
    runs = [
        ("MB-200", 1000, 1, 3),
        ("MB-200", 1500, 5, 7),
        ("PSU-40", 800, 3, 5),
        ("IO-12", 2500, 8, 10),
    ]
    for pn, qty, start, end in runs:
        run = services.save_run(
            by=buyer,
            partnership=p,
            product=products[pn],
            quantity=qty,
            planned_launch=monday + dt.timedelta(weeks=start),
            due_date=monday + dt.timedelta(weeks=end, days=4),
            external_id=f"PO-{pn}-{start}",
        )
        if pn == "MB-200" and start == 1:
            services.confirm_run(by=planner, run=run)
        if pn == "MB-200" and start == 5:
            services.request_priority(
                by=buyer, run=run, priority=4, reason="Hospital tender won; need 500 pcs early."
            )

    # A confirmed run the OEM pushes out two weeks: within the band's limit, it stays confirmed.
    run = services.save_run(
        by=buyer,
        partnership=p,
        product=products["MB-200"],
        quantity=1200,
        planned_launch=monday + dt.timedelta(weeks=9),
        due_date=monday + dt.timedelta(weeks=11, days=4),
        external_id="PO-MB-200-9",
    )
    run = services.confirm_run(by=planner, run=run)
    services.save_run(
        by=buyer,
        partnership=p,
        run=run,
        planned_launch=monday + dt.timedelta(weeks=11),
        due_date=monday + dt.timedelta(weeks=13, days=4),
    )
    for pn, component, lead, qty, price in (
        ("MB-200", "XC7A35T-1CSG324C (FPGA)", 16, "1", "38.50"),
        ("MB-200", "MT40A512M16 (DDR4)", 12, "2", "3.25"),
        ("IO-12", "ADuM4160 (USB isolator)", 14, "1", "6.80"),
        ("IO-12", "Molex 80-pin connector", 6, "2", "1.20"),
    ):
        services.save_long_lead_item(
            by=am,
            product=products[pn],
            component=component,
            lead_time_weeks=lead,
            quantity_per_assembly=Decimal(qty),
            unit_price=Decimal(price),
        )

    weeks = [monday + dt.timedelta(weeks=i) for i in range(26)]
    services.publish_capacity(
        by=planner,
        partnership=p,
        rows=[
            {"week": w, "amount": "2500" if i % 13 != 6 else "1200"} for i, w in enumerate(weeks)
        ],
    )

    def demand(factor):
        rows = []
        for i, w in enumerate(weeks):
            for pn, base in (("MB-200", 900), ("PSU-40", 700), ("IO-12", 500)):
                rows.append({"product": pn, "week": w, "quantity": int(base * factor(i, pn))})
        return rows

    services.publish_demand(
        by=buyer,
        partnership=p,
        rows=demand(lambda i, pn: 1.0),
        note="Q1 rolling forecast",
        today=today,
    )
    services.publish_demand(
        by=buyer,
        partnership=p,
        note="Tender win: MB-200 up from week 6",
        rows=demand(
            lambda i, pn: (
                1.35
                if pn == "MB-200" and 6 <= i <= 9
                else 0.6
                if pn == "IO-12" and i == 10
                else 1.0
            )
        ),
        today=today,
    )
    services.refresh_alerts(p)
