"""Schedule pages: isolation (files included), roles, uploads, imports, query counts."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from partnership.models import Role
from schedules import services
from schedules.models import CapacityPlan, DemandPublication, Product, ProductionRun, ReadinessFile
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def theirs(world, media, this_monday):
    """Their product with an uploaded document and a run: must stay invisible to us."""
    product = services.save_product(
        by=world.outsider, partnership=world.theirs, part_number="SECRET-1", name="Secret"
    )
    item = product.readiness.get(kind="bom")
    record = services.upload_readiness_file(
        by=world.outsider,
        item=item,
        upload=SimpleUploadedFile("secret-bom.csv", b"secret,bom\n", "text/csv"),
    )
    run = services.save_run(
        by=world.outsider,
        partnership=world.theirs,
        product=product,
        quantity=10,
        planned_launch=this_monday,
        due_date=this_monday + dt.timedelta(days=4),
    )
    return product, record, run


def test_every_schedule_page_of_another_partnership_answers_404(world, client, theirs):
    product, record, run = theirs
    p = world.theirs.pk
    urls = [
        ("get", reverse("schedules:products", args=[p])),
        ("post", reverse("schedules:products", args=[p])),
        ("get", reverse("schedules:product", args=[p, product.pk])),
        ("post", reverse("schedules:product", args=[p, product.pk])),
        ("get", reverse("schedules:readiness_file", args=[p, product.pk, record.pk])),
        ("get", reverse("schedules:runs", args=[p])),
        ("get", reverse("schedules:run", args=[p, run.pk])),
        ("post", reverse("schedules:run", args=[p, run.pk])),
        ("get", reverse("schedules:capacity", args=[p])),
        ("post", reverse("schedules:capacity", args=[p])),
        ("get", reverse("schedules:export", args=[p, "demand", "csv"])),
        ("get", reverse("schedules:export", args=[p, "capacity", "xlsx"])),
        # Their objects under our partnership id.
        ("get", reverse("schedules:product", args=[world.ours.pk, product.pk])),
        ("get", reverse("schedules:readiness_file", args=[world.ours.pk, product.pk, record.pk])),
        ("get", reverse("schedules:run", args=[world.ours.pk, run.pk])),
    ]
    for user in (world.buyer, world.account_manager, world.oem_viewer):
        client.force_login(user)
        for method, url in urls:
            response = getattr(client, method)(url, {"what": "confirm"})
            assert response.status_code == 404, (user, method, url, response.status_code)
    run.refresh_from_db()
    assert run.status == ProductionRun.Status.PLANNED


def test_documents_are_downloadable_by_both_sides_of_the_partnership_only(
    world, client, media, product
):
    item = product.readiness.get(kind="gerber")
    record = services.upload_readiness_file(
        by=world.buyer,
        item=item,
        upload=SimpleUploadedFile("board.zip", b"PK\x03\x04gerbers", "application/zip"),
    )
    url = reverse("schedules:readiness_file", args=[world.ours.pk, product.pk, record.pk])
    for user in (world.buyer, world.account_manager, world.oem_viewer):
        client.force_login(user)
        response = client.get(url)
        assert (
            response.status_code == 200
            and b"".join(response.streaming_content) == b"PK\x03\x04gerbers"
        )
        assert 'attachment; filename="board.zip"' in response["Content-Disposition"]
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    # The stored path is not guessable from the name alone.
    folder = record.file.name.split("/")[3]
    assert record.file.name.startswith(f"readiness/{world.ours.pk}/{product.pk}/")
    assert len(folder) == 32 and int(folder, 16)


def test_upload_review_and_release_through_the_page(world, client, media, product):
    url = product.get_absolute_url()
    client.force_login(world.buyer)
    page = client.get(url).content.decode()
    assert "What blocks the launch" in page and "Gerber" in page
    response = client.post(url, {"what": "release"}, follow=True)
    assert "Not launch-ready" in response.content.decode()
    product.refresh_from_db()
    assert product.released_at is None
    bad = client.post(
        url,
        {
            "what": "upload",
            "item": product.readiness.get(kind="bom").pk,
            "file": SimpleUploadedFile("virus.exe", b"MZ", "application/octet-stream"),
        },
        follow=True,
    )
    assert "not accepted" in bad.content.decode() and not ReadinessFile.objects.exists()
    for item in product.readiness.all():
        client.force_login(world.buyer)
        client.post(
            url,
            {
                "what": "upload",
                "item": item.pk,
                "file": SimpleUploadedFile(f"{item.kind}.pdf", b"%PDF-1.4"),
            },
        )
        client.force_login(world.account_manager)
        client.post(url, {"what": "review", "item": item.pk, "decision": "approve"})
    client.post(url, {"what": "release"})
    product.refresh_from_db()
    assert product.released_at is not None
    assert ReadinessFile.objects.count() == 7


def test_ems_cannot_create_products_and_oem_cannot_review(world, client, media, product):
    client.force_login(world.account_manager)
    response = client.post(
        reverse("schedules:products", args=[world.ours.pk]),
        {"part_number": "X-1", "revision": "A", "name": "X", "ipc_class": 2},
    )
    assert response.status_code == 403
    assert not Product.objects.filter(part_number="X-1").exists()
    item = product.readiness.get(kind="bom")
    services.upload_readiness_file(
        by=world.buyer, item=item, upload=SimpleUploadedFile("bom.csv", b"a,b")
    )
    client.force_login(world.buyer)
    assert (
        client.post(
            product.get_absolute_url(), {"what": "review", "item": item.pk, "decision": "approve"}
        ).status_code
        == 403
    )


def test_product_form_errors_are_field_level(world, client):
    client.force_login(world.buyer)
    response = client.post(
        reverse("schedules:products", args=[world.ours.pk]),
        {"part_number": "", "revision": "A", "name": "X", "ipc_class": 7, "units_per_hour": "-1"},
    )
    assert response.status_code == 400
    assert {"part_number", "ipc_class", "units_per_hour"} <= set(response.context["form"].errors)


def test_run_lifecycle_through_the_page(world, client, product, this_monday):
    client.force_login(world.buyer)
    response = client.post(
        reverse("schedules:runs", args=[world.ours.pk]),
        {
            "product": product.pk,
            "quantity": 500,
            "planned_launch": this_monday + dt.timedelta(weeks=2),
            "due_date": this_monday + dt.timedelta(weeks=1),
            "priority": 2,
        },
    )
    assert response.status_code == 400 and "due_date" in response.context["form"].errors
    client.post(
        reverse("schedules:runs", args=[world.ours.pk]),
        {
            "product": product.pk,
            "quantity": 500,
            "planned_launch": this_monday + dt.timedelta(weeks=2),
            "due_date": this_monday + dt.timedelta(weeks=3),
            "priority": 2,
        },
    )
    run = ProductionRun.objects.get()
    assert (
        "Production timeline"
        in client.get(reverse("schedules:runs", args=[world.ours.pk])).content.decode()
    )
    client.force_login(world.account_manager)
    response = client.post(run.get_absolute_url(), {"what": "confirm"}, follow=True)
    assert "not released for launch" in response.content.decode()
    client.post(
        run.get_absolute_url(),
        {
            "what": "propose",
            "launch": this_monday + dt.timedelta(weeks=3),
            "due": this_monday + dt.timedelta(weeks=4),
        },
    )
    client.force_login(world.buyer)
    client.post(run.get_absolute_url(), {"what": "accept-dates"})
    run.refresh_from_db()
    # The new dates are adopted, but an unreleased product keeps the run planned.
    assert run.status == "planned" and run.planned_launch == this_monday + dt.timedelta(weeks=3)
    client.post(run.get_absolute_url(), {"what": "priority", "priority": 4, "reason": "Tender"})
    client.force_login(world.account_manager)
    pending = run.priority_requests.get()
    client.post(
        run.get_absolute_url(), {"what": "decline-priority", "request": pending.pk, "answer": ""}
    )
    pending.refresh_from_db()
    assert pending.status == "pending"
    client.post(
        run.get_absolute_url(), {"what": "accept-priority", "request": pending.pk, "answer": "OK"}
    )
    run.refresh_from_db()
    assert run.priority == 4


def test_csv_imports_are_all_or_nothing_with_row_errors(world, client, product, this_monday):
    url = reverse("schedules:capacity", args=[world.ours.pk])
    client.force_login(world.account_manager)
    bad = (
        f"week,amount\n{this_monday},1000\nnot-a-week,5\n{this_monday + dt.timedelta(weeks=1)},-3\n"
    )
    response = client.post(
        url, {"what": "capacity", "file": SimpleUploadedFile("c.csv", bad.encode())}
    )
    body = response.content.decode()
    assert response.status_code == 400 and "Row 2, week" in body and "Row 3, amount" in body
    assert not CapacityPlan.objects.exists()
    good = f"week,amount\n{this_monday},1000\n{this_monday + dt.timedelta(weeks=1)},1000\n"
    client.post(url, {"what": "capacity", "file": SimpleUploadedFile("c.csv", good.encode())})
    assert CapacityPlan.objects.count() == 2

    client.force_login(world.buyer)
    bad = f"product,week,quantity\nMB-200,{this_monday},900\nNOPE-1,{this_monday},5\n"
    response = client.post(
        url, {"what": "demand", "file": SimpleUploadedFile("d.csv", bad.encode())}
    )
    assert response.status_code == 400 and "NOPE-1" in response.content.decode()
    assert not DemandPublication.objects.exists()
    good = f"product,week,quantity\nMB-200,{this_monday},1200\nMB-200,{this_monday + dt.timedelta(weeks=1)},500\n"
    client.post(url, {"what": "demand", "file": SimpleUploadedFile("d.csv", good.encode())})
    services.refresh_alerts(world.ours)
    page = client.get(url).content.decode()
    assert 'data-week-class="critical"' in page and "demand 1200 vs capacity 1000" in page
    export = client.get(
        reverse("schedules:export", args=[world.ours.pk, "demand", "csv"])
    ).content.decode()
    assert export.splitlines()[1] == f"MB-200,{this_monday},1200"


def test_capacity_page_query_count_is_the_same_at_1x_and_10x(
    world, client, this_monday, django_assert_max_num_queries
):
    def build(n_products, suffix):
        for i in range(n_products):
            services.save_product(
                by=world.buyer, partnership=world.ours, part_number=f"P{suffix}-{i}", name="Board"
            )
        weeks = [this_monday + dt.timedelta(weeks=w) for w in range(26)]
        services.publish_capacity(
            by=world.account_manager,
            partnership=world.ours,
            rows=[{"week": w, "amount": 100 * n_products} for w in weeks],
        )
        services.publish_demand(
            by=world.buyer,
            partnership=world.ours,
            rows=[
                {"product": p.part_number, "week": w, "quantity": 90 + (i % 20)}
                for i, p in enumerate(Product.objects.filter(partnership=world.ours))
                for w in weeks
            ],
        )
        services.refresh_alerts(world.ours)

    client.force_login(world.buyer)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    build(3, "a")
    with django_assert_max_num_queries(30) as small:
        client.get(url)
    build(27, "b")  # 10× the products, demand lines and changes
    with django_assert_max_num_queries(len(small.captured_queries)) as large:
        client.get(url)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_viewer_cannot_write_anything(world, client, product, this_monday):
    viewer = member(world.ems, Role.VIEWER, email="viewer@ems.example")
    client.force_login(viewer)
    url = reverse("schedules:capacity", args=[world.ours.pk])
    data = f"week,amount\n{this_monday},1000\n".encode()
    assert (
        client.post(
            url, {"what": "capacity", "file": SimpleUploadedFile("c.csv", data)}
        ).status_code
        == 403
    )
    assert not CapacityPlan.objects.exists()
