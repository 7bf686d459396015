import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.formats import localize, number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from contracts.services import active_contract
from contracts.views import add_errors
from partnership import jobs
from partnership.lists import ListMixin
from partnership.models import Partnership
from partnership.scoping import PartnershipScopedMixin, scoped_partnership
from partnership.tabular import FORMATS, MAX_UPLOAD_BYTES, table_response

from . import charts, lists, services
from .forms import (
    LongLeadItemForm,
    PriorityRequestForm,
    ProductForm,
    ProposeDatesForm,
    ReviewForm,
    RunChangeForm,
    RunForm,
    TableUploadForm,
    UploadForm,
)
from .models import (
    CapacityAlert,
    DemandChange,
    LongLeadItem,
    PriorityRequest,
    Product,
    ProductionRun,
    ReadinessFile,
    ReadinessItem,
)


class ScheduleMixin(PartnershipScopedMixin):
    tab = "schedules"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        side, m = self.side_membership()
        # What the user may do here: the services' one table (templates show those actions).
        ctx.update(tab=self.tab, side=side, rights=services.rights(side, m))
        return ctx


class ProductListView(ListMixin, ScheduleMixin, TemplateView):
    template_name = "schedules/product_list.html"
    list_spec = lists.ProductList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(products=ctx["object_list"], form=kwargs.get("form") or ProductForm())
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
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
                    # reviewed_by is shown per item: joined, not a query per item (#9).
                    queryset=ReadinessItem.objects.select_related("reviewed_by").prefetch_related(
                        "files__uploaded_by"
                    ),
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
            long_lead_items=product.long_lead_items.all(),
            long_lead_form=kwargs.get("long_lead_form") or LongLeadItemForm(),
            currency=getattr(active_contract(self.partnership), "currency", "EUR"),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        product = self.get_product()
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
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
        elif what == "long-lead":
            form = LongLeadItemForm(
                request.POST,
                instance=LongLeadItem(product=product, partnership_id=product.partnership_id),
            )
            if form.is_valid():
                try:
                    services.save_long_lead_item(
                        by=request.user, product=product, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Long-lead item saved."))
                    return redirect(product)
            return self.render_to_response(self.get_context_data(long_lead_form=form), status=400)
        elif what == "long-lead-delete":
            item = get_object_or_404(
                product.long_lead_items, pk=request.POST.get("long_lead_item") or 0
            )
            self.run(
                lambda: services.delete_long_lead_item(by=request.user, item=item),
                _("Long-lead item removed."),
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


class RunListView(ListMixin, ScheduleMixin, TemplateView):
    template_name = "schedules/run_list.html"
    tab = "runs"
    list_spec = lists.RunList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        runs = list(ctx["object_list"])  # the timeline shows the runs of this page
        start = services.monday(timezone.localdate()) - dt.timedelta(weeks=2)
        ctx.update(
            runs=runs,
            gantt=charts.gantt([r for r in runs if r.status != "completed"], start),
            form=kwargs.get("form") or RunForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
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
        pending = run.priority_requests.filter(status=PriorityRequest.Status.PENDING).first()
        ctx.update(
            run=run,
            actions=services.run_actions(
                self.request.user, run, pending, membership=self.membership
            ),
            requests=run.priority_requests.select_related("requested_by", "answered_by"),
            pending=pending,
            changes=run.changes.select_related("changed_by", "acknowledged_by")[:50],
            change_form=kwargs.get("change_form") or RunChangeForm(instance=run),
            currency=getattr(active_contract(self.partnership), "currency", "EUR"),
            propose_form=ProposeDatesForm(
                initial={"launch": run.planned_launch, "due": run.due_date}
            ),
            priority_form=kwargs.get("priority_form") or PriorityRequestForm(),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        run = self.get_run()
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        if what == "confirm":
            self.run(lambda: services.confirm_run(by=request.user, run=run), _("Run confirmed."))
        elif what == "change":
            form = RunChangeForm(request.POST, instance=ProductionRun.objects.get(pk=run.pk))
            if form.is_valid():
                try:
                    services.save_run(
                        by=request.user, partnership=self.partnership, run=run, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    change = run.changes.first()
                    if run.status == ProductionRun.Status.PLANNED and change and change.is_breach:
                        messages.warning(
                            request,
                            _("Changed beyond the flex terms (%(verdict)s): the EMS must confirm.")
                            % {"verdict": change.get_verdict_display()},
                        )
                    else:
                        messages.success(request, _("Run changed."))
                    return redirect(run)
            return self.render_to_response(self.get_context_data(change_form=form), status=400)
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
        currency = contract.currency if contract else "EUR"
        loads = services.weekly_load(self.partnership)
        publication = services.latest_publication(self.partnership)
        changes = []
        if publication:
            changes = list(
                publication.changes.select_related("product", "acknowledged_by").exclude(
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
            .select_related("acknowledged_by")
            .order_by("week", "kind"),
            publication=publication,
            changes=changes,
            change_rows=self.change_rows(changes, currency),
            unacknowledged=[c for c in changes if c.is_breach and not c.acknowledged_at],
            exposure=sum((c.exposure or 0) for c in changes),
            currency=currency,
            capacity_form=TableUploadForm(),
            demand_form=TableUploadForm(),
            import_errors=kwargs.get("import_errors"),
        )
        return ctx

    @staticmethod
    def change_rows(changes, currency) -> str:
        """The rows of the changes table (up to 200), built here rather than in the template:
        the template engine's cost per variable made them most of the page's time (#9)."""

        def band(c):
            if c.max_increase_pct is None:
                return ""
            return format_html(
                ' <span class="muted small">+{}/−{}%</span>',
                localize(c.max_increase_pct),
                localize(c.max_decrease_pct),
            )

        labels = {value: str(label) for value, label in DemandChange.Verdict.choices}

        def verdict(c):
            if not c.acknowledged_by:
                return labels[c.verdict]
            return format_html(
                '{} <span class="small muted">✓ {}</span>', labels[c.verdict], c.acknowledged_by
            )

        def exposure(c):
            if not c.exposure:
                return "—"
            return f"{number_format(c.exposure, 2, force_grouping=True)} {currency}"

        return format_html_join(
            "",
            '<tr class="{}"><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}'
            '</td><td class="num">{}</td><td>{}{}</td><td>{}</td><td class="num">{}</td></tr>',
            (
                (
                    "breach" if c.is_breach else "",
                    c.product.part_number,
                    f"{c.week:%G-W%V}",
                    c.weeks_out,  # integers: no thousands separator (as in the template)
                    c.previous_quantity,
                    c.new_quantity,
                    c.band_label or "—",
                    band(c),
                    verdict(c),
                    exposure(c),
                )
                for c in changes
            ),
        )

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        if what in ("capacity", "demand"):
            form = TableUploadForm(request.POST, request.FILES)
            if not form.is_valid() or form.cleaned_data["file"].size > MAX_UPLOAD_BYTES:
                messages.error(request, _("Choose a CSV or XLSX file of at most 5 MB."))
                return redirect("schedules:capacity", self.partnership.pk)
            upload = form.cleaned_data["file"]
            data = upload.read()
            right = "publish_capacity" if what == "capacity" else "publish_demand"
            services.require_right(request.user, self.partnership, right)  # 403 now, not later
            if len(data) > settings.IMPORT_ASYNC_BYTES:  # a large file: a worker, a progress bar
                job = jobs.start_import(
                    owner=request.user,
                    partnership=self.partnership,
                    what=what,
                    filename=upload.name,
                    data=data,
                    note=form.cleaned_data["note"],
                )
                return redirect(job)
            try:
                message = services.import_table(
                    by=request.user,
                    partnership=self.partnership,
                    what=what,
                    data=data,
                    filename=upload.name,
                    note=form.cleaned_data["note"],
                )
            except services.ImportRejected as exc:
                return self.render_to_response(
                    self.get_context_data(import_errors={"what": what, "errors": exc.messages}),
                    status=400,
                )
            messages.success(request, message)
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
@require_safe
def export_table(request, partnership_pk, what, fmt):
    """Capacity or the latest demand of the partnership as CSV or XLSX, in the import format,
    so a partner can download, edit in a spreadsheet and upload again."""
    partnership = scoped_partnership(request, partnership_pk)
    if fmt not in FORMATS:
        raise Http404
    if what == "capacity":
        header, rows = services.CAPACITY_COLUMNS, services.capacity_rows(partnership)
    elif what == "demand":
        header, rows = services.DEMAND_COLUMNS, services.demand_rows(partnership)
    else:
        raise Http404
    return table_response(fmt, f"{what}-{partnership.pk}", header, rows)
