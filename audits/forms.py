from django import forms
from django.utils.translation import gettext_lazy as _

from partnership.lookups import PersonField, bind_lookups
from partnership.models import User

from .models import (
    Audit,
    AuditTemplate,
    Certificate,
    Finding,
    KpiRecord,
    SupplierProfile,
    SupplierReference,
)


class PlanAuditForm(forms.ModelForm):
    template = forms.ModelChoiceField(
        queryset=AuditTemplate.objects.filter(is_current=True), label=_("Checklist")
    )

    class Meta:
        model = Audit
        fields = [
            "title",
            "kind",
            "template",
            "planned_date",
            "lead_auditor",
            "team",
            "response_days",
        ]
        widgets = {
            "planned_date": forms.DateInput(attrs={"type": "date"}),
            "team": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        people = User.objects.filter(
            memberships__organization_id__in=[partnership.oem_id, partnership.ems_id]
        ).distinct()
        self.fields["lead_auditor"].queryset = people
        self.fields["team"].queryset = people
        self.fields["team"].required = False


class FindingForm(forms.ModelForm):
    class Meta:
        model = Finding
        fields = ["classification", "clause", "description", "evidence"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "evidence": forms.Textarea(attrs={"rows": 2}),
        }


class ActionForm(forms.Form):
    owner = PersonField(kind="people-ems", label=_("Owner (EMS)"))
    due_date = forms.DateField(label=_("Due date"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        bind_lookups(self, partnership)


class CertificateForm(forms.ModelForm):
    class Meta:
        model = Certificate
        fields = ["standard", "number", "issuer", "scope", "valid_from", "valid_until", "file"]
        widgets = {
            "valid_from": forms.DateInput(attrs={"type": "date"}),
            "valid_until": forms.DateInput(attrs={"type": "date"}),
            "scope": forms.Textarea(attrs={"rows": 2}),
        }


class KpiForm(forms.ModelForm):
    month = forms.DateField(
        label=_("Month"),
        widget=forms.DateInput(attrs={"type": "month"}),
        input_formats=["%Y-%m", "%Y-%m-%d"],
    )

    class Meta:
        model = KpiRecord
        fields = ["month", "lines_due", "lines_on_time", "units_delivered", "units_nonconforming"]


class ProfileForm(forms.ModelForm):
    capabilities = forms.MultipleChoiceField(
        choices=SupplierProfile.Capability.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("Capabilities"),
    )

    class Meta:
        model = SupplierProfile
        fields = ["sites", "smt_lines", "employees", "industries", "capabilities"]
        widgets = {"sites": forms.Textarea(attrs={"rows": 3})}


class ReferenceForm(forms.ModelForm):
    class Meta:
        model = SupplierReference
        fields = ["company", "contact", "verdict", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}
