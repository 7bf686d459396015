import csv
import datetime as dt
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from contracts.services import active_contract, side_membership
from contracts.views import add_errors
from partnership.models import Partnership
from partnership.scoping import PartnershipScopedMixin, scoped_partnership

from . import charts, services
from .forms import (
    CsvUploadForm,
    PriorityRequestForm,
    ProductForm,
    ProposeDatesForm,
    ReviewForm,
    RunForm,
    UploadForm,
)
from .models import (
    CapacityAlert,
    DemandChange,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessFile,
    ReadinessItem,
)

MAX_CSV_BYTES = 5 * 1024 * 1024


class ScheduleMixin(PartnershipScopedMixin):
    tab = "schedules"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        side, m = side_membership(self.request.user, self.partnership)
        ctx.update(tab=self.tab, side=side, can_write=bool(m and m.role in services.WRITE_ROLES))
        return ctx


class ProductListView(ScheduleMixin, TemplateView):
    template_name = "schedules/product_list.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        q = self.request.GET.get("q", "").strip()
        products = Product.objects.for_partnership(self.partnership).annotate(
            required=Count("readiness", filter=Q(readiness__required=True)),
            approved=Count(
                "readiness", filter=Q(readiness__required=True, readiness__status="approved")
            ),
        )
        if q:
            products = products.filter(Q(part_number__icontains=q) | Q(name__icontains=q))
        ctx.update(products=products[:500], q=q, form=kwargs.get("form") or ProductForm())
        return ctx

    def post(self, request, *args, **kwargs):
        form = ProductForm(request.POST)
        if form.is_valid():
            try:
                product = services.save_product(
                    by=request.user, partnership=self.partnership, **form.cleaned_data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Product created with its NPI readiness checklist."))
                return redirect(product)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ProductDetailView(ScheduleMixin, TemplateView):
    template_name = "schedules/product_detail.html"

    def get_product(self):
        return get_object_or_404(
            Product.objects.for_partnership(self.partnership).prefetch_related(
                Prefetch(
                    "readiness",
                    queryset=ReadinessItem.objects.prefetch_related("files__uploaded_by"),
                )
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        product = self.get_product()
        ready, blockers = services.readiness(product)
        ctx.update(
            product=product,
            ready=ready,
            blockers=blockers,
            runs=product.runs.all()[:50],
            edit_form=kwargs.get("edit_form") or ProductForm(instance=product),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        product = self.get_product()
        what = request.POST.get("what")
        item = None
        if "item" in request.POST:
            try:
                item = product.readiness.get(pk=int(request.POST["item"]))
            except (ValueError, ReadinessItem.DoesNotExist):
                raise Http404 from None
        if what == "upload" and item:
            form = UploadForm(request.POST, request.FILES)
            if not form.is_valid():
                messages.error(request, _("Choose a file to upload."))
            else:
                self.run(
                    lambda: services.upload_readiness_file(
                        by=request.user, item=item, upload=form.cleaned_data["file"]
                    ),
                    _("Uploaded: %(doc)s is waiting for the EMS's review.")
                    % {"doc": item.get_kind_display()},
                )
        elif what == "review" and item:
            form = ReviewForm(request.POST)
            if form.is_valid():
                self.run(
                    lambda: services.review_readiness_item(
                        by=request.user,
                        item=item,
                        approve=form.cleaned_data["decision"] == "approve",
                        reason=form.cleaned_data["reason"],
                    ),
                    _("Review recorded."),
                )
        elif what == "required" and item:
            self.run(
                lambda: services.set_item_required(
                    by=request.user, item=item, required=request.POST.get("required") == "1"
                ),
                _("Saved."),
            )
        elif what == "release":
            self.run(
                lambda: services.release_for_launch(by=request.user, product=product),
                _("Released for launch."),
            )
        elif what == "edit":
            form = ProductForm(request.POST, instance=Product.objects.get(pk=product.pk))
            if form.is_valid():
                try:
                    services.save_product(
                        by=request.user,
                        partnership=self.partnership,
                        product=product,
                        **form.cleaned_data,
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Product saved."))
                    return redirect(product)
            return self.render_to_response(self.get_context_data(edit_form=form), status=400)
        else:
            raise Http404
        return redirect(product)


@login_required
@require_safe  # a download: GET/HEAD only
def readiness_file(request, partnership_pk, pk, file_pk):
    """Documents are served only to members of the partnership, never from a public URL."""
    record = get_object_or_404(
        ReadinessFile.objects.filter(
            item__product__partnership__in=Partnership.objects.for_user(request.user),
            item__product__partnership_id=partnership_pk,
            item__product_id=pk,
        ),
        pk=file_pk,
    )
    return FileResponse(record.file.open("rb"), as_attachment=True, filename=record.name)


class RunListView(ScheduleMixin, TemplateView):
    template_name = "schedules/run_list.html"
    tab = "runs"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        runs = list(
            ProductionRun.objects.for_partnership(self.partnership)
            .select_related("product")
            .exclude(status__in=[ProductionRun.Status.CANCELLED])
            .order_by("planned_launch", "-priority")[:300]
        )
        start = services.monday(timezone.localdate()) - dt.timedelta(weeks=2)
        ctx.update(
            runs=runs,
            gantt=charts.gantt([r for r in runs if r.status != "completed"], start),
            form=kwargs.get("form") or RunForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        form = RunForm(request.POST, partnership=self.partnership)
        if form.is_valid():
            try:
                run = services.save_run(
                    by=request.user, partnership=self.partnership, **form.cleaned_data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Production run created; the EMS confirms it."))
                return redirect(run)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class RunDetailView(ScheduleMixin, TemplateView):
    template_name = "schedules/run_detail.html"
    tab = "runs"

    def get_run(self):
        return get_object_or_404(
            ProductionRun.objects.for_partnership(self.partnership).select_related(
                "product", "confirmed_by"
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        run = self.get_run()
        ctx.update(
            run=run,
            requests=run.priority_requests.select_related("requested_by", "answered_by"),
            pending=run.priority_requests.filter(status=PriorityRequest.Status.PENDING).first(),
            history=run.history.select_related("history_user").order_by("-history_date")[:30],
            propose_form=ProposeDatesForm(
                initial={"launch": run.planned_launch, "due": run.due_date}
            ),
            priority_form=kwargs.get("priority_form") or PriorityRequestForm(),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        run = self.get_run()
        what = request.POST.get("what")
        if what == "confirm":
            self.run(lambda: services.confirm_run(by=request.user, run=run), _("Run confirmed."))
        elif what == "propose":
            form = ProposeDatesForm(request.POST)
            if form.is_valid():
                self.run(
                    lambda: services.propose_dates(
                        by=request.user,
                        run=run,
                        launch=form.cleaned_data["launch"],
                        due=form.cleaned_data["due"],
                    ),
                    _("New dates proposed."),
                )
            else:
                messages.error(request, _("Enter valid dates."))
        elif what in ("accept-dates", "decline-dates"):
            self.run(
                lambda: services.answer_proposed_dates(
                    by=request.user, run=run, accept=what == "accept-dates"
                ),
                _("Answer recorded."),
            )
        elif what == "priority":
            form = PriorityRequestForm(request.POST)
            if form.is_valid():
                try:
                    services.request_priority(by=request.user, run=run, **form.cleaned_data)
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Re-prioritisation requested."))
                    return redirect(run)
            return self.render_to_response(self.get_context_data(priority_form=form), status=400)
        elif what in ("accept-priority", "decline-priority"):
            pending = get_object_or_404(
                run.priority_requests,
                pk=request.POST.get("request") or 0,
                status=PriorityRequest.Status.PENDING,
            )
            self.run(
                lambda: services.answer_priority(
                    by=request.user,
                    request=pending,
                    accept=what == "accept-priority",
                    answer=request.POST.get("answer", ""),
                ),
                _("Answer recorded."),
            )
        else:
            raise Http404
        return redirect(run)


class CapacityView(ScheduleMixin, TemplateView):
    template_name = "schedules/capacity.html"
    tab = "capacity"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        contract = active_contract(self.partnership)
        warning = contract.capacity_warning_pct if contract else 90
        critical = contract.capacity_critical_pct if contract else 100
        loads = services.weekly_load(self.partnership)
        publication = services.latest_publication(self.partnership)
        changes = []
        if publication:
            changes = list(
                publication.changes.select_related("product").exclude(
                    verdict=DemandChange.Verdict.WITHIN
                )[:200]
            )
        ctx.update(
            loads=loads,
            chart=charts.capacity_chart(loads, warning, critical),
            warning=warning,
            critical=critical,
            alerts=CapacityAlert.objects.for_partnership(self.partnership)
            .exclude(status="resolved")
            .order_by("week", "kind"),
            publication=publication,
            changes=changes,
            unacknowledged=[c for c in changes if c.is_breach and not c.acknowledged_at],
            capacity_form=CsvUploadForm(),
            demand_form=CsvUploadForm(),
            import_errors=kwargs.get("import_errors"),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        what = request.POST.get("what")
        if what in ("capacity", "demand"):
            form = CsvUploadForm(request.POST, request.FILES)
            if not form.is_valid() or form.cleaned_data["file"].size > MAX_CSV_BYTES:
                messages.error(request, _("Choose a CSV file of at most 5 MB."))
                return redirect("schedules:capacity", self.partnership.pk)
            data = form.cleaned_data["file"].read()
            try:
                if what == "capacity":
                    rows = services.parse_csv(data, ["week", "amount"])
                    n = services.publish_capacity(
                        by=request.user, partnership=self.partnership, rows=rows
                    )
                    messages.success(request, _("%(n)s capacity weeks published.") % {"n": n})
                else:
                    rows = services.parse_csv(data, ["product", "week", "quantity"])
                    pub = services.publish_demand(
                        by=request.user,
                        partnership=self.partnership,
                        rows=rows,
                        note=form.cleaned_data["note"],
                    )
                    messages.success(request, _("Forecast v%(v)s published.") % {"v": pub.version})
            except services.ImportRejected as exc:
                return self.render_to_response(
                    self.get_context_data(import_errors={"what": what, "errors": exc.messages}),
                    status=400,
                )
        elif what == "ack-alert":
            alert = get_object_or_404(
                CapacityAlert.objects.for_partnership(self.partnership),
                pk=request.POST.get("alert") or 0,
            )
            self.run(
                lambda: services.acknowledge_alert(by=request.user, alert=alert),
                _("Alert acknowledged."),
            )
        elif what == "ack-changes":
            publication = services.latest_publication(self.partnership)
            if publication is None:
                raise Http404
            self.run(
                lambda: services.acknowledge_changes(by=request.user, publication=publication),
                _("Forecast changes acknowledged."),
            )
        else:
            raise Http404
        return redirect("schedules:capacity", self.partnership.pk)


@login_required
def export_csv(request, partnership_pk, what):
    """Capacity or the latest demand of the partnership as CSV, in the import format."""
    partnership = scoped_partnership(request, partnership_pk)
    out = io.StringIO()
    writer = csv.writer(out)
    if what == "capacity":
        writer.writerow(["week", "line", "amount", "unit"])
        for c in partnership.capacity.order_by("week", "line"):
            writer.writerow([c.week.isoformat(), c.line, c.amount, c.unit])
    elif what == "demand":
        writer.writerow(["product", "week", "quantity"])
        publication = services.latest_publication(partnership)
        if publication:
            for line in publication.lines.select_related("product").order_by(
                "week", "product__part_number"
            ):
                writer.writerow([line.product.part_number, line.week.isoformat(), line.quantity])
    else:
        raise Http404
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{what}-{partnership.pk}.csv"'
    return response
