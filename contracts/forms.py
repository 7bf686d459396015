from django import forms
from django.forms import modelformset_factory
from django.utils.translation import gettext_lazy as _

from .models import (
    FLAG_CONDITIONS,
    NUMERIC_CONDITIONS,
    Category,
    Contract,
    DecisionRule,
    FlexBand,
    ResponsibilityItem,
)


class ContractTermsForm(forms.ModelForm):
    class Meta:
        model = Contract
        fields = [
            "title",
            "effective_from",
            "effective_until",
            "currency",
            "frozen_zone_weeks",
            "default_decision_mode",
            "default_response_hours",
            "capacity_warning_pct",
            "capacity_critical_pct",
            "notes",
        ]
        widgets = {
            "effective_from": forms.DateInput(attrs={"type": "date"}),
            "effective_until": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


FlexBandFormSet = modelformset_factory(
    FlexBand,
    fields=FlexBand.TERMS,
    extra=1,
    can_delete=True,
)


class MatrixItemForm(forms.ModelForm):
    class Meta:
        model = ResponsibilityItem
        fields = ["area", "activity", "oem", "ems"]
        widgets = {
            "oem": forms.TextInput(
                attrs={"size": 4, "pattern": "[RACIraci ,/+]*", "aria-label": _("OEM letters")}
            ),
            "ems": forms.TextInput(
                attrs={"size": 4, "pattern": "[RACIraci ,/+]*", "aria-label": _("EMS letters")}
            ),
        }


class MatrixImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("Columns: area, activity, oem, ems. Replaces the matrix.")
    )


class DecisionRuleForm(forms.ModelForm):
    class Meta:
        model = DecisionRule
        fields = [
            "category",
            *[f for f, _fact, _l in NUMERIC_CONDITIONS],
            *[f for f, _fact, _l in FLAG_CONDITIONS],
            "outcome",
            "response_hours",
            "silence_is_consent",
            "clause_ref",
            "clause_text",
        ]
        widgets = {"clause_text": forms.Textarea(attrs={"rows": 3})}


class FactsForm(forms.Form):
    """The facts of a (real or hypothetical) decision, as the rules see them."""

    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    cost_impact = forms.DecimalField(
        label=_("Cost impact"), min_value=0, max_digits=14, decimal_places=2, required=False
    )
    price_change_pct = forms.DecimalField(
        label=_("Price change %"), min_value=0, max_digits=6, decimal_places=2, required=False
    )
    delay_days = forms.IntegerField(label=_("Delay (days)"), min_value=0, required=False)
    quantity = forms.IntegerField(label=_("Quantity"), min_value=0, required=False)
    safety_critical = forms.BooleanField(label=_("Safety-critical part"), required=False)
    outside_avl = forms.BooleanField(
        label=_("Part outside the approved vendor list"), required=False
    )
    fff_impact = forms.BooleanField(label=_("Form/fit/function impact"), required=False)
    ipc_class3 = forms.BooleanField(label=_("IPC class 3 product"), required=False)
    customer_visible = forms.BooleanField(label=_("Visible to end customer"), required=False)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class DecisionRequestForm(FactsForm):
    title = forms.CharField(label=_("Title"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )
    attachments = MultipleFileField(
        label=_("Attachments"),
        required=False,
        help_text=_("PDF, images, spreadsheets; 10 MB each."),
    )

    field_order = ["title", "category", "description"]


class AnswerForm(forms.Form):
    action = forms.ChoiceField(
        choices=[
            ("approve", _("Approve")),
            ("reject", _("Reject")),
            ("acknowledge", _("Acknowledge")),
        ]
    )
    text = forms.CharField(
        label=_("Reason / comment"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )


class CommentForm(forms.Form):
    text = forms.CharField(label=_("Comment"), widget=forms.Textarea(attrs={"rows": 3}))


class RequestChangesForm(forms.Form):
    reason = forms.CharField(
        label=_("What should change?"), widget=forms.Textarea(attrs={"rows": 3})
    )
