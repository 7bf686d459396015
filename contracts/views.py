from functools import cached_property

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.http import require_safe
from django.views.generic import TemplateView

from partnership.lists import ListMixin
from partnership.scoping import PartnershipScopedMixin, scoped_partnership

from . import lists, services
from .forms import (
    AnswerForm,
    CommentForm,
    ContractTermsForm,
    DecisionRequestForm,
    DecisionRuleForm,
    FactsForm,
    FlexBandFormSet,
    MatrixImportForm,
    MatrixItemForm,
    RequestChangesForm,
)
from .models import (
    Contract,
    DecisionAttachment,
    DecisionMode,
    DecisionRequest,
    DecisionRule,
    ResponsibilityItem,
)


def add_errors(form, exc: ValidationError):
    """Put a service's ValidationError on the form: on its field where it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class ContractMixin(PartnershipScopedMixin):
    """Resolves ``self.contract`` inside the scoped partnership (404 otherwise)."""

    @cached_property
    def contract(self) -> Contract:
        return get_object_or_404(
            Contract.objects.for_partnership(self.partnership).select_related(
                "drafted_by", "oem_signed_by", "ems_signed_by", "proposed_by", "previous"
            ),
            pk=self.kwargs["pk"],
        )

    def require_editable(self):
        if not self.contract.is_editable:
            raise PermissionDenied(_("Only a draft can be changed."))
        if not services.can_edit(self.request.user, self.contract):
            raise PermissionDenied(_("Only the side that drafted this version can edit it."))

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            contract=self.contract,
            tab="contracts",
            can_edit=services.can_edit(self.request.user, self.contract),
        )
        return ctx


class ContractListView(ListMixin, PartnershipScopedMixin, TemplateView):
    template_name = "contracts/contract_list.html"
    list_spec = lists.ContractList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        current = list(
            self.partnership.contracts.filter(
                status__in=[Contract.Status.ACTIVE, "draft", "proposed"]
            ).select_related("oem_signed_by", "ems_signed_by")
        )
        ctx.update(
            contracts=ctx["object_list"],
            active=next((c for c in current if c.status == Contract.Status.ACTIVE), None),
            open_version=next((c for c in current if c.status in ("draft", "proposed")), None),
            can_draft=services.can_draft(self.request.user, self.partnership),
            tab="contracts",
        )
        return ctx


@login_required
def create_draft(request, partnership_pk):
    if request.method != "POST":
        raise Http404
    partnership = scoped_partnership(request, partnership_pk)
    try:
        contract = services.create_draft(by=request.user, partnership=partnership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("contracts:list", partnership.pk)
    messages.success(
        request,
        _("Version %(v)s drafted. Edit it, then propose it to your partner.")
        % {"v": contract.version},
    )
    return redirect(contract)


class ContractDetailView(ContractMixin, TemplateView):
    template_name = "contracts/contract_detail.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        c = self.contract
        user = self.request.user
        side, _m = services.side_membership(user, self.partnership)
        ctx.update(
            matrix=list(c.matrix.all()),
            rules=list(c.rules.all()),
            flex_bands=list(c.flex_bands.all()),
            problems=services.contract_problems(c) if c.is_editable else [],
            can_sign=c.status == Contract.Status.PROPOSED
            and services.can_sign(user, c)
            and not getattr(c, f"{side}_signed_at", None),
            can_review=c.status == Contract.Status.PROPOSED
            and side != self.partnership.side_of(c.drafted_by)
            and services.can_draft(user, self.partnership),
            changes_form=RequestChangesForm(),
            matrix_form=MatrixItemForm(),
            my_side=side,
        )
        return ctx


class TermsView(ContractMixin, TemplateView):
    template_name = "contracts/terms_form.html"

    def get(self, request, *args, **kwargs):
        self.require_editable()
        return self.render_to_response(
            self.get_context_data(form=ContractTermsForm(instance=self.contract))
        )

    def post(self, request, *args, **kwargs):
        self.require_editable()
        form = ContractTermsForm(request.POST, instance=Contract.objects.get(pk=self.contract.pk))
        if form.is_valid():
            try:
                services.update_terms(by=request.user, contract=self.contract, **form.cleaned_data)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Terms saved."))
                return redirect(self.contract)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class FlexBandsView(ContractMixin, TemplateView):
    template_name = "contracts/flex_form.html"

    def get(self, request, *args, **kwargs):
        self.require_editable()
        formset = FlexBandFormSet(queryset=self.contract.flex_bands.all())
        return self.render_to_response(self.get_context_data(formset=formset))

    def post(self, request, *args, **kwargs):
        self.require_editable()
        formset = FlexBandFormSet(request.POST, queryset=self.contract.flex_bands.all())
        if formset.is_valid():
            bands = [
                f.save(commit=False)
                for f in formset.forms
                if f.has_changed() or f.instance.pk
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
            try:
                services.replace_flex_bands(by=request.user, contract=self.contract, bands=bands)
            except ValidationError as exc:
                return self.render_to_response(
                    self.get_context_data(formset=formset, band_errors=exc.messages), status=400
                )
            messages.success(request, _("Flex terms saved."))
            return redirect(self.contract)
        return self.render_to_response(self.get_context_data(formset=formset), status=400)


class MatrixView(ContractMixin, View):
    """POST adds a row. With htmx, answers the new row (or the form with its errors)."""

    def post(self, request, *args, **kwargs):
        self.require_editable()
        form = MatrixItemForm(request.POST)
        item = None
        if form.is_valid():
            try:
                item = services.save_matrix_item(
                    by=request.user, contract=self.contract, **form.cleaned_data
                )
            except ValidationError as exc:
                add_errors(form, exc)
        if request.htmx:
            if item is None:
                response = render(
                    request,
                    "contracts/_matrix_add.html",
                    {
                        "contract": self.contract,
                        "partnership": self.partnership,
                        "matrix_form": form,
                    },
                    status=422,
                )
                response["HX-Retarget"] = "#matrix-add"
                response["HX-Reswap"] = "outerHTML"
                return response
            response = render(
                request,
                "contracts/_matrix_row.html",
                {"item": item, "contract": self.contract, "can_edit": True},
            )
            response["HX-Trigger"] = "matrix-row-added"
            return response
        if item is None:
            messages.error(
                request,
                "; ".join(
                    f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v)
                    for k, v in form.errors.items()
                ),
            )
        return redirect(self.contract.get_absolute_url() + "#matrix")


class MatrixRowView(ContractMixin, View):
    """One row of the grid: GET its edit form, POST saves it, DELETE removes it (htmx)."""

    def get_item(self):
        return get_object_or_404(self.contract.matrix, pk=self.kwargs["item_pk"])

    def render_row(self, item, form=None, status=200):
        template = (
            "contracts/_matrix_row_form.html" if form is not None else "contracts/_matrix_row.html"
        )
        ctx = {
            "item": item,
            "form": form,
            "contract": self.contract,
            "can_edit": services.can_edit(self.request.user, self.contract),
        }
        return render(self.request, template, ctx, status=status)

    def get(self, request, *args, **kwargs):
        item = self.get_item()
        if request.GET.get("edit"):
            self.require_editable()
            return self.render_row(item, MatrixItemForm(instance=item))
        return self.render_row(item)

    def post(self, request, *args, **kwargs):
        self.require_editable()
        item = self.get_item()
        if request.POST.get("delete"):
            return self.delete(request, *args, **kwargs)
        form = MatrixItemForm(request.POST, instance=ResponsibilityItem.objects.get(pk=item.pk))
        if form.is_valid():
            try:
                item = services.save_matrix_item(
                    by=request.user, contract=self.contract, item=item, **form.cleaned_data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                return (
                    self.render_row(item)
                    if request.htmx
                    else redirect(self.contract.get_absolute_url() + "#matrix")
                )
        return self.render_row(item, form, status=422 if request.htmx else 400)

    def delete(self, request, *args, **kwargs):
        self.require_editable()
        services.delete_matrix_item(by=request.user, item=self.get_item())
        if request.htmx:
            return HttpResponse("")
        return redirect(self.contract.get_absolute_url() + "#matrix")


@login_required
@require_safe  # a download: GET/HEAD only
def matrix_csv(request, partnership_pk, pk):
    partnership = scoped_partnership(request, partnership_pk)
    contract = get_object_or_404(Contract.objects.for_partnership(partnership), pk=pk)
    response = HttpResponse(
        services.export_matrix_csv(contract), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="raci-matrix-v{contract.version}.csv"'
    return response


class MatrixImportView(ContractMixin, TemplateView):
    template_name = "contracts/matrix_import.html"

    def get(self, request, *args, **kwargs):
        self.require_editable()
        return self.render_to_response(self.get_context_data(form=MatrixImportForm()))

    def post(self, request, *args, **kwargs):
        self.require_editable()
        form = MatrixImportForm(request.POST, request.FILES)
        errors = []
        if form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > 2 * 1024 * 1024:
                form.add_error("file", _("The file is larger than 2 MB."))
            else:
                result = services.import_matrix_csv(
                    by=request.user, contract=self.contract, data=upload.read()
                )
                if not result.errors:
                    messages.success(
                        request, _("%(n)s activities imported.") % {"n": result.created}
                    )
                    return redirect(self.contract.get_absolute_url() + "#matrix")
                errors = result.errors
        return self.render_to_response(
            self.get_context_data(form=form, import_errors=errors), status=400
        )


class RuleFormView(ContractMixin, TemplateView):
    template_name = "contracts/rule_form.html"

    def get_rule(self):
        if "rule_pk" in self.kwargs:
            return get_object_or_404(self.contract.rules, pk=self.kwargs["rule_pk"])
        return DecisionRule(contract=self.contract)

    def get(self, request, *args, **kwargs):
        rule = self.get_rule()
        if self.contract.is_editable:
            self.require_editable()
        elif rule.pk is None:
            raise PermissionDenied(_("Only a draft can be changed."))
        return self.render_to_response(
            self.get_context_data(form=DecisionRuleForm(instance=rule), rule=rule)
        )

    def post(self, request, *args, **kwargs):
        self.require_editable()
        rule = self.get_rule()
        form = DecisionRuleForm(request.POST, instance=rule)
        if form.is_valid():
            try:
                services.save_rule(by=request.user, contract=self.contract, rule=form.instance)
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Rule saved."))
                return redirect(self.contract.get_absolute_url() + "#rules")
        return self.render_to_response(self.get_context_data(form=form, rule=rule), status=400)


@login_required
def delete_rule(request, partnership_pk, pk, rule_pk):
    if request.method != "POST":
        raise Http404
    partnership = scoped_partnership(request, partnership_pk)
    contract = get_object_or_404(Contract.objects.for_partnership(partnership), pk=pk)
    rule = get_object_or_404(contract.rules, pk=rule_pk)
    try:
        services.delete_rule(by=request.user, rule=rule)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Rule deleted."))
    return redirect(contract.get_absolute_url() + "#rules")


class RuleTesterView(ContractMixin, TemplateView):
    """Enter the facts of a hypothetical decision and see which rule fires, and why."""

    template_name = "contracts/tester.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        form = FactsForm(self.request.GET or None)
        result = None
        if form.is_bound and form.is_valid():
            facts = dict(form.cleaned_data)
            category = facts.pop("category")
            result = services.route_facts(self.contract, category, facts)
        ctx.update(form=form, result=result)
        return ctx


@login_required
def contract_action(request, partnership_pk, pk, action):
    if request.method != "POST" or action not in (
        "propose",
        "sign",
        "request-changes",
        "new-version",
    ):
        raise Http404
    partnership = scoped_partnership(request, partnership_pk)
    contract = get_object_or_404(Contract.objects.for_partnership(partnership), pk=pk)
    try:
        if action == "propose":
            services.propose(by=request.user, contract=contract)
            messages.success(request, _("Proposed to your partner for review and signature."))
        elif action == "sign":
            contract = services.sign(by=request.user, contract=contract)
            if contract.status == Contract.Status.ACTIVE:
                messages.success(
                    request,
                    _("Signed by both sides: version %(v)s is now active.")
                    % {"v": contract.version},
                )
            else:
                messages.success(request, _("Signed. Waiting for the other side's signature."))
        elif action == "request-changes":
            form = RequestChangesForm(request.POST)
            services.request_changes(
                by=request.user, contract=contract, reason=form.data.get("reason", "")
            )
            messages.success(request, _("Sent back to the drafting side."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(contract)


class CompareView(ContractMixin, TemplateView):
    template_name = "contracts/compare.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        other = get_object_or_404(
            Contract.objects.for_partnership(self.partnership), pk=self.kwargs["other_pk"]
        )
        old, new = sorted([other, self.contract], key=lambda c: c.version)
        ctx.update(
            old=old,
            new=new,
            diff=services.compare(old, new),
            versions=self.partnership.contracts.all(),
        )
        return ctx


@login_required
@require_safe  # a download: GET/HEAD only
def contract_pdf(request, partnership_pk, pk):
    from .pdf import render_contract_pdf

    partnership = scoped_partnership(request, partnership_pk)
    contract = get_object_or_404(Contract.objects.for_partnership(partnership), pk=pk)
    response = HttpResponse(render_contract_pdf(contract), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="contract-summary-v{contract.version}.pdf"'
    return response


# --- Decision requests ---------------------------------------------------------------------


class DecisionListView(ListMixin, PartnershipScopedMixin, TemplateView):
    template_name = "contracts/decision_list.html"
    list_spec = lists.DecisionList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            requests=ctx["object_list"],
            tab="decisions",
            can_raise=services.can_raise(self.request.user, self.partnership),
            has_active_contract=services.active_contract(self.partnership) is not None,
        )
        return ctx


class InboxView(ListMixin, LoginRequiredMixin, TemplateView):
    """Across all of the user's partnerships: what waits for the OEM, and what the EMS raised."""

    template_name = "contracts/inbox.html"
    list_spec = lists.InboxList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["requests"] = ctx["object_list"]
        ctx["counts"] = DecisionRequest.objects.for_user(self.request.user).aggregate(
            open=Count("id", filter=Q(status__in=["awaiting_oem", "overdue"])),
            overdue=Count("id", filter=Q(status="overdue")),
        )
        return ctx


class DecisionCreateView(PartnershipScopedMixin, TemplateView):
    template_name = "contracts/decision_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not services.can_raise(request.user, self.partnership):
            raise PermissionDenied(_("Only EMS members (not viewers) raise decision requests."))
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(tab="decisions", contract=services.active_contract(self.partnership))
        ctx.setdefault("form", DecisionRequestForm(initial=self.request.GET or None))
        return ctx

    def post(self, request, *args, **kwargs):
        form = DecisionRequestForm(request.POST, request.FILES)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                decision = services.raise_decision_request(
                    by=request.user, partnership=self.partnership, **data
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(ref)s raised: %(mode)s.")
                    % {"ref": decision.reference, "mode": decision.get_mode_display()},
                )
                return redirect(decision)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class DecisionDetailView(PartnershipScopedMixin, TemplateView):
    template_name = "contracts/decision_detail.html"

    @cached_property
    def decision(self):
        return get_object_or_404(
            DecisionRequest.objects.for_partnership(self.partnership).select_related(
                "contract", "rule", "raised_by", "answered_by", "raised_by_org"
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        d = self.decision
        user = self.request.user
        can_answer = d.is_open and services.can_answer(user, self.partnership)
        actions = []
        if can_answer:
            if d.mode == DecisionMode.OEM_APPROVAL:
                actions = [("approve", _("Approve")), ("reject", _("Reject"))]
            elif d.mode == DecisionMode.CONSULT_OEM:
                actions = [("acknowledge", _("Acknowledge")), ("reject", _("Object"))]
        ctx.update(
            decision=d,
            events=d.events.select_related("actor"),
            attachments=d.attachments.all(),
            answer_actions=actions,
            answer_form=kwargs.get("answer_form") or AnswerForm(),
            comment_form=kwargs.get("comment_form") or CommentForm(),
            can_withdraw=d.is_open and services.can_raise(user, self.partnership),
            can_comment=bool(self.membership and self.membership.can_write),
            tab="decisions",
        )
        return ctx

    def post(self, request, *args, **kwargs):
        d = self.decision
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        try:
            if what == "answer":
                form = AnswerForm(request.POST)
                if not form.is_valid():
                    return self.render_to_response(
                        self.get_context_data(answer_form=form), status=400
                    )
                services.answer_decision_request(by=request.user, request=d, **form.cleaned_data)
                messages.success(request, _("Answer recorded."))
            elif what == "comment":
                form = CommentForm(request.POST)
                if not form.is_valid():
                    return self.render_to_response(
                        self.get_context_data(comment_form=form), status=400
                    )
                services.comment_on_decision_request(
                    by=request.user, request=d, text=form.cleaned_data["text"]
                )
            elif what == "withdraw":
                services.withdraw_decision_request(
                    by=request.user, request=d, text=request.POST.get("text", "")
                )
                messages.success(request, _("Request withdrawn."))
            else:
                raise Http404
        except ValidationError as exc:
            form = AnswerForm(request.POST)
            form.is_valid()
            add_errors(form, exc)
            return self.render_to_response(self.get_context_data(answer_form=form), status=400)
        return redirect(d)


@login_required
@require_safe  # a download: GET/HEAD only
def decision_attachment(request, partnership_pk, pk, attachment_pk):
    partnership = scoped_partnership(request, partnership_pk)
    attachment = get_object_or_404(
        DecisionAttachment.objects.filter(request__partnership=partnership, request_id=pk),
        pk=attachment_pk,
    )
    return FileResponse(attachment.file.open("rb"), as_attachment=True, filename=attachment.name)
