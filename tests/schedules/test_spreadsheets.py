"""Demand and capacity as spreadsheets (XLSX and CSV both ways), and the long-lead exposure of
forecast cuts on the capacity page."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from partnership import tabular
from schedules import services
from schedules.models import CapacityPlan, DemandChange, DemandPublication
from tests.contracts.conftest import active_contract, draft  # noqa: F401


def xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def upload(name, data):
    return SimpleUploadedFile(name, data, "application/octet-stream")


def test_the_oem_publishes_a_forecast_from_an_excel_workbook(world, client, product, this_monday):
    client.force_login(world.buyer)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    data = xlsx(
        [
            ["Product", "Week", "Quantity"],  # headers in any case
            ["MB-200", dt.datetime.combine(this_monday, dt.time()), 1200],  # Excel date cell
            ["MB-200", f"{(this_monday + dt.timedelta(weeks=1)):%G-W%V}", 800.0],  # ISO week
            [None, None, None],  # an empty row in the middle is ignored
            ["mb-200", this_monday + dt.timedelta(weeks=2), "700"],
        ]
    )
    response = client.post(url, {"what": "demand", "file": upload("forecast.xlsx", data)})
    assert response.status_code == 302
    publication = DemandPublication.objects.get(partnership=world.ours)
    assert sorted(publication.lines.values_list("week", "quantity")) == [
        (this_monday, 1200),
        (this_monday + dt.timedelta(weeks=1), 800),
        (this_monday + dt.timedelta(weeks=2), 700),
    ]


def test_a_bad_row_in_a_workbook_publishes_nothing(world, client, product, this_monday):
    client.force_login(world.buyer)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    data = xlsx(
        [
            ["product", "week", "quantity"],
            ["MB-200", this_monday, 100],
            ["MB-200", "next tuesday", 100],
            ["MB-200", this_monday + dt.timedelta(weeks=1), 12.5],
        ]
    )
    response = client.post(url, {"what": "demand", "file": upload("f.xlsx", data)})
    body = response.content.decode()
    assert response.status_code == 400
    assert "Row 2, week" in body and "Row 3, quantity" in body
    assert not DemandPublication.objects.exists()


def test_a_broken_workbook_or_a_missing_column_is_refused_clearly(
    world, client, product, this_monday
):
    client.force_login(world.account_manager)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    response = client.post(
        url, {"what": "capacity", "file": upload("c.xlsx", b"PK\x03\x04 not really a zip")}
    )
    assert (
        response.status_code == 400 and "not a readable XLSX workbook" in response.content.decode()
    )
    response = client.post(
        url, {"what": "capacity", "file": upload("c.xlsx", xlsx([["week", "hours"]]))}
    )
    assert response.status_code == 400 and "missing column(s): amount" in response.content.decode()
    assert not CapacityPlan.objects.exists()


def test_semicolon_csv_from_a_european_excel_is_read(world, client, product, this_monday):
    client.force_login(world.account_manager)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    data = f"week;line;amount\r\n{this_monday};SMT-1;1000\r\n{this_monday};SMT-2;400\r\n"
    response = client.post(url, {"what": "capacity", "file": upload("c.csv", data.encode())})
    assert response.status_code == 302
    assert sorted(CapacityPlan.objects.values_list("line", "amount")) == [
        ("SMT-1", Decimal(1000)),
        ("SMT-2", Decimal(400)),
    ]


def test_exports_round_trip_through_excel(world, client, product, this_monday):
    services.publish_capacity(
        by=world.account_manager,
        partnership=world.ours,
        rows=[{"week": this_monday, "amount": 1000, "line": "SMT-1"}],
    )
    services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[{"product": "MB-200", "week": this_monday, "quantity": 900}],
    )
    client.force_login(world.account_manager)
    response = client.get(reverse("schedules:export", args=[world.ours.pk, "demand", "xlsx"]))
    assert response["Content-Type"] == tabular.CONTENT_TYPES["xlsx"]
    assert 'filename="demand-' in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == ["product", "week", "quantity"]
    assert rows[1][0] == "MB-200" and rows[1][1].date() == this_monday and rows[1][2] == 900
    # The downloaded workbook goes straight back in as the next version.
    client.force_login(world.buyer)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    assert client.post(url, {"what": "demand", "file": upload("d.xlsx", response.content)})
    assert DemandPublication.objects.filter(partnership=world.ours).count() == 2

    response = client.get(reverse("schedules:export", args=[world.ours.pk, "capacity", "csv"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["week", "line", "amount", "unit"],
        [str(this_monday), "SMT-1", "1000.00", "units"],
    ]


def test_unknown_export_formats_and_foreign_partnerships_answer_404(world, client):
    client.force_login(world.buyer)
    assert client.get(f"/partnerships/{world.ours.pk}/export/demand.ods").status_code == 404
    assert client.get(f"/partnerships/{world.ours.pk}/export/secrets.csv").status_code == 404
    url = reverse("schedules:export", args=[world.theirs.pk, "demand", "xlsx"])
    assert client.get(url).status_code == 404


def test_exported_text_never_becomes_a_formula():
    data = tabular.render_table(
        "csv", ["line"], [['=HYPERLINK("http://evil")'], ["+1"], ["@SUM(A1)"], ["-2"], ["ok"]]
    )
    assert [r[0] for r in csv.reader(io.StringIO(data.decode()))][1:] == [
        '\'=HYPERLINK("http://evil")',
        "'+1",
        "'@SUM(A1)",
        "'-2",
        "ok",
    ]
    sheet = load_workbook(
        io.BytesIO(tabular.render_table("xlsx", ["line"], [["=1+1"], [-2], [Decimal("2.50")]]))
    ).active
    assert [c.value for c in sheet["A"]][1:] == ["'=1+1", -2, 2.5]


@pytest.fixture
def long_lead(world, product):
    services.save_long_lead_item(
        by=world.account_manager,
        product=product,
        component="FPGA XC7A35T",
        lead_time_weeks=16,
        unit_price=Decimal("38.50"),
    )
    services.save_long_lead_item(
        by=world.account_manager,
        product=product,
        component="DDR4 4Gb",
        lead_time_weeks=8,
        quantity_per_assembly=Decimal(2),
        unit_price=Decimal("3.25"),
    )


def test_a_forecast_cut_shows_the_long_lead_exposure(
    world,
    client,
    product,
    long_lead,
    this_monday,
    active_contract,  # noqa: F811
):
    week = lambda n: this_monday + dt.timedelta(weeks=n)  # noqa: E731
    services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[{"product": "MB-200", "week": week(n), "quantity": 1000} for n in (6, 10, 20)],
    )
    services.publish_demand(
        by=world.buyer,
        partnership=world.ours,
        rows=[{"product": "MB-200", "week": week(n), "quantity": 600} for n in (6, 10, 20)],
    )
    changes = {c.weeks_out: c for c in DemandChange.objects.all()}
    # Week 6: both components already ordered: 400 × (38.50 + 2 × 3.25).
    assert changes[6].exposure == Decimal("18000.00")
    assert changes[6].verdict == DemandChange.Verdict.CANCELLATION
    assert changes[10].exposure == Decimal("15400.00")  # only the 16-week FPGA
    assert changes[20].exposure is None  # beyond every lead time
    client.force_login(world.account_manager)
    page = client.get(reverse("schedules:capacity", args=[world.ours.pk])).content.decode()
    assert 'data-testid="exposure"' in page and "33,400.00 EUR" in page
