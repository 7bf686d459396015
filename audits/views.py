from functools import cached_property

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe
from django.views.generic import TemplateView

from contracts.views import add_errors
from partnership.lists import ListMixin
from partnership.scoping import PartnershipScopedMixin, scoped_partnership

from . import charts, lists, services
from .forms import (
    ActionForm,
    CertificateForm,
    FindingForm,
    KpiForm,
    PlanAuditForm,
    ProfileForm,
    ReferenceForm,
)
from .models import (
    EIGHT_D,
    Audit,
    Certificate,
    Evidence,
    Finding,
    SupplierProfile,
    TemplateQuestion,
)


class AuditMixin(PartnershipScopedMixin):
    tab = "audits"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        side, m = self.side_membership()
        ctx.update(
            tab=self.tab,
            side=side,
            is_auditor=services.is_auditor(side, m),
            is_ems_editor=services.is_ems_editor(side, m),
        )
        return ctx


class AuditListView(ListMixin, AuditMixin, TemplateView):
    template_name = "audits/audit_list.html"
    list_spec = lists.AuditList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx.update(
            audits=ctx["object_list"],
            form=kwargs.get("form")
            or PlanAuditForm(
                partnership=self.partnership, initial={"lead_auditor": self.request.user.pk}
            ),
            references=self.partnership.supplier_references.select_related("recorded_by"),
            reference_form=kwargs.get("reference_form") or ReferenceForm(),
            profile=SupplierProfile.objects.filter(organization=self.partnership.ems).first(),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        if request.POST.get("what") == "reference":
            form = ReferenceForm(request.POST)
            if form.is_valid():
                try:
                    services.add_reference(
                        by=request.user, partnership=self.partnership, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Reference recorded."))
                    return redirect("audits:audits", self.partnership.pk)
            return self.render_to_response(self.get_context_data(reference_form=form), status=400)
        form = PlanAuditForm(request.POST, partnership=self.partnership)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                audit = services.plan_audit(
                    by=request.user,
                    partnership=self.partnership,
                    team=list(data.pop("team")),
                    **data,
                )
            except ValidationError as exc:
                add_errors(form, exc)
            else:
                messages.success(request, _("Audit planned. The EMS can self-assess meanwhile."))
                return redirect(audit)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class AuditView(AuditMixin, TemplateView):
    """Conduct the audit: answer, attach evidence, see score and grade; findings below."""

    template_name = "audits/audit_detail.html"

    @cached_property
    def audit(self):
        return get_object_or_404(
            Audit.objects.for_partnership(self.partnership).select_related(
                "template", "lead_auditor"
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        audit = self.audit
        answers = {(a.question_id, a.side): a for a in audit.answers.all()}
        evidence = {}
        for e in audit.evidence.all():
            evidence.setdefault(e.question_id, []).append(e)
        sections = list(
            audit.template.sections.prefetch_related(
                Prefetch("questions", queryset=TemplateQuestion.objects.order_by("position"))
            )
        )
        rows = []
        for section in sections:
            rows.append(
                (
                    section,
                    [
                        (
                            q,
                            answers.get((q.pk, "oem")),
                            answers.get((q.pk, "ems")),
                            evidence.get(q.pk, []),
                        )
                        for q in section.questions.all()
                    ],
                )
            )
        # Scored from the sections and answers read above, not read again per side.
        oem_score = services.score_of(sections, answers, audit.template, "oem")
        ems_score = services.score_of(sections, answers, audit.template, "ems")
        ctx.update(
            audit=audit,
            rows=rows,
            scale=audit.template.scale,
            oem_score=oem_score,
            ems_score=ems_score,
            section_chart=charts.section_bars(oem_score, ems_score),
            findings=audit.findings.select_related("action"),
            finding_form=kwargs.get("finding_form") or FindingForm(),
            general_evidence=evidence.get(None, []),
            can_score=ctx["is_auditor"] and services.scoring_open(audit, "oem"),
            can_self_assess=ctx["is_ems_editor"] and services.scoring_open(audit, "ems"),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        audit = self.audit
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        if what == "start":
            self.run(
                lambda: services.start_audit(by=request.user, audit=audit), _("Audit started.")
            )
        elif what == "finding":
            form = FindingForm(request.POST)
            if form.is_valid():
                try:
                    finding = services.raise_finding(
                        by=request.user, audit=audit, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Finding F%(n)s recorded.") % {"n": finding.number})
                    return redirect(audit.get_absolute_url() + "#findings")
            return self.render_to_response(self.get_context_data(finding_form=form), status=400)
        elif what == "evidence":
            upload = request.FILES.get("file")
            question = None
            if request.POST.get("question"):
                question = TemplateQuestion.objects.filter(
                    section__template=audit.template, pk=request.POST["question"]
                ).first()
            if upload is None:
                messages.error(request, _("Choose a photo or file."))
            else:
                self.run(
                    lambda: services.add_evidence(
                        by=request.user,
                        audit=audit,
                        upload=upload,
                        question=question,
                        caption=request.POST.get("caption", ""),
                    ),
                    _("Evidence attached."),
                )
        elif what == "issue":
            self.run(
                lambda: services.issue_report(
                    by=request.user, audit=audit, summary=request.POST.get("summary", "")
                ),
                _("Report issued."),
            )
        elif what == "close":
            self.run(lambda: services.close_audit(by=request.user, audit=audit), _("Audit closed."))
        elif what == "recommendation":
            self.run(
                lambda: services.set_recommendation(
                    by=request.user,
                    audit=audit,
                    recommendation=request.POST.get("recommendation", ""),
                    reason=request.POST.get("reason", ""),
                ),
                _("Recommendation saved."),
            )
        else:
            raise Http404
        return redirect(audit)


@login_required
@require_POST
def answer(request, partnership_pk, pk):
    """One score (htmx): answers the updated row and, out of band, the score summary."""
    partnership = scoped_partnership(request, partnership_pk)
    audit = get_object_or_404(
        Audit.objects.for_partnership(partnership).select_related("template"), pk=pk
    )
    question = get_object_or_404(
        TemplateQuestion.objects.filter(section__template=audit.template),
        pk=request.POST.get("question") or 0,
    )
    raw = request.POST.get("score", "")
    error = ""
    try:
        value = int(raw) if raw != "" else None
    except ValueError:
        value, error = None, _("Not a score.")
    if not error:
        try:
            services.record_answer(
                by=request.user,
                audit=audit,
                question=question,
                score=value,
                notes=request.POST.get("notes", ""),
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(audit.get_absolute_url() + f"#q-{question.pk}")
    oem_score = services.compute_score(audit, "oem")
    ems_score = services.compute_score(audit, "ems")
    ctx = {
        "audit": audit,
        "oem_score": oem_score,
        "ems_score": ems_score,
        "error": error,
        "question": question,
        "saved": not error,
        "section_chart": charts.section_bars(oem_score, ems_score),
    }
    return render(request, "audits/_answer_result.html", ctx, status=422 if error else 200)


@login_required
@require_safe  # a download: GET/HEAD only
def audit_pdf(request, partnership_pk, pk):
    from .pdf import render_audit_pdf

    partnership = scoped_partnership(request, partnership_pk)
    audit = get_object_or_404(Audit.objects.for_partnership(partnership), pk=pk)
    response = HttpResponse(render_audit_pdf(audit), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="audit-report-{audit.pk}.pdf"'
    return response


@login_required
@require_safe  # a download: GET/HEAD only
def evidence_file(request, partnership_pk, pk, evidence_pk):
    partnership = scoped_partnership(request, partnership_pk)
    record = get_object_or_404(
        Evidence.objects.filter(audit__partnership=partnership, audit_id=pk), pk=evidence_pk
    )
    return FileResponse(record.file.open("rb"), as_attachment=False, filename=record.name)


class FindingListView(ListMixin, AuditMixin, TemplateView):
    """Findings of all the partnership's audits, to follow up what is open or overdue."""

    template_name = "audits/finding_list.html"
    list_spec = lists.FindingList

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["today"] = timezone.localdate()
        return ctx


class FindingView(AuditMixin, TemplateView):
    template_name = "audits/finding_detail.html"

    @cached_property
    def finding(self):
        return get_object_or_404(
            Finding.objects.for_partnership(self.partnership).select_related(
                "audit", "raised_by", "closed_by"
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        f = self.finding
        action = getattr(f, "action", None)
        steps = []
        if action:
            nxt = action.next_step()
            steps = [(n, label, action.step(n), n == nxt) for n, label in EIGHT_D]
        ctx.update(
            finding=f,
            action=action,
            steps=steps,
            action_form=kwargs.get("action_form") or ActionForm(partnership=self.partnership),
        )
        return ctx

    def post(self, request, *args, **kwargs):
        f = self.finding
        action = getattr(f, "action", None)
        what = request.POST.get("what")
        if what == "start-action":
            form = ActionForm(request.POST, partnership=self.partnership)
            if form.is_valid():
                try:
                    services.start_action(by=request.user, finding=f, **form.cleaned_data)
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    return redirect(f)
            return self.render_to_response(self.get_context_data(action_form=form), status=400)
        if what == "step" and action:
            try:
                step = int(request.POST.get("step", ""))
            except ValueError:
                raise Http404 from None
            self.run(
                lambda: services.complete_step(
                    by=request.user, action=action, step=step, text=request.POST.get("text", "")
                ),
                _("Step completed."),
            )
        elif what == "submit" and action:
            self.run(
                lambda: services.submit_action(by=request.user, action=action),
                _("Submitted to the OEM."),
            )
        elif what in ("verify", "send-back") and action:
            self.run(
                lambda: services.verify_action(
                    by=request.user,
                    action=action,
                    accept=what == "verify",
                    note=request.POST.get("note", ""),
                ),
                _("Finding closed.") if what == "verify" else _("Sent back to the EMS."),
            )
        elif what == "close-observation":
            self.run(
                lambda: services.close_observation(by=request.user, finding=f),
                _("Observation closed."),
            )
        else:
            raise Http404
        return redirect(f)


class ScorecardView(AuditMixin, TemplateView):
    template_name = "audits/scorecard.html"
    tab = "scorecard"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        card = services.scorecard(self.partnership)
        _side, m = self.side_membership()
        profile = SupplierProfile.objects.filter(organization=self.partnership.ems).first()
        ctx.update(
            card=card,
            trend=charts.trend(card["audit_trend"], card["kpis"]),
            profile=profile,
            certificate_form=kwargs.get("certificate_form") or CertificateForm(),
            kpi_form=kwargs.get("kpi_form") or KpiForm(),
            profile_form=kwargs.get("profile_form") or ProfileForm(instance=profile),
            can_write=m is not None and m.role != "viewer",
        )
        return ctx

    def post(self, request, *args, **kwargs):
        self.refuse_viewers()  # the role before the input: a viewer gets 403, not a form error
        what = request.POST.get("what")
        ems = self.partnership.ems
        if what == "certificate":
            form = CertificateForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    services.save_certificate(
                        by=request.user, organization=ems, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Certificate recorded."))
                    return redirect("audits:scorecard", self.partnership.pk)
            return self.render_to_response(self.get_context_data(certificate_form=form), status=400)
        if what == "kpi":
            form = KpiForm(request.POST)
            if form.is_valid():
                try:
                    services.save_kpi(
                        by=request.user, partnership=self.partnership, **form.cleaned_data
                    )
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("KPIs saved."))
                    return redirect("audits:scorecard", self.partnership.pk)
            return self.render_to_response(self.get_context_data(kpi_form=form), status=400)
        if what == "profile":
            form = ProfileForm(request.POST)
            if form.is_valid():
                try:
                    services.save_profile(by=request.user, organization=ems, **form.cleaned_data)
                except ValidationError as exc:
                    add_errors(form, exc)
                else:
                    messages.success(request, _("Profile saved."))
                    return redirect("audits:scorecard", self.partnership.pk)
            return self.render_to_response(self.get_context_data(profile_form=form), status=400)
        raise Http404


@login_required
@require_safe  # a download: GET/HEAD only
def certificate_file(request, partnership_pk, pk):
    partnership = scoped_partnership(request, partnership_pk)
    cert = get_object_or_404(
        Certificate.objects.filter(organization_id__in=[partnership.oem_id, partnership.ems_id]),
        pk=pk,
    )
    if not cert.file:
        raise Http404
    return FileResponse(
        cert.file.open("rb"), as_attachment=True, filename=cert.file.name.rsplit("/", 1)[-1]
    )
