from django import forms
from django.utils.translation import gettext_lazy as _

from partnership.lookups import ProductField, bind_lookups

from .models import LongLeadItem, PriorityRequest, Product, ProductionRun


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = [
            "part_number",
            "revision",
            "name",
            "description",
            "ipc_class",
            "units_per_hour",
            "external_id",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}


class UploadForm(forms.Form):
    file = forms.FileField(label=_("File"))


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    reason = forms.CharField(
        label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class RunForm(forms.ModelForm):
    class Meta:
        model = ProductionRun
        fields = ["product", "quantity", "planned_launch", "due_date", "priority", "external_id"]
        widgets = {
            "planned_launch": forms.DateInput(attrs={"type": "date"}),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }
        field_classes = {"product": ProductField}  # a search field: thousands of products

    def __init__(self, *args, partnership=None, **kwargs):
        super().__init__(*args, **kwargs)
        bind_lookups(self, partnership)


class ProposeDatesForm(forms.Form):
    launch = forms.DateField(label=_("Launch"), widget=forms.DateInput(attrs={"type": "date"}))
    due = forms.DateField(label=_("Due"), widget=forms.DateInput(attrs={"type": "date"}))


class PriorityRequestForm(forms.ModelForm):
    class Meta:
        model = PriorityRequest
        fields = ["priority", "requested_due", "reason"]
        widgets = {
            "requested_due": forms.DateInput(attrs={"type": "date"}),
            "reason": forms.Textarea(attrs={"rows": 2}),
        }


class TableUploadForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.xlsx,text/csv"}),
    )
    note = forms.CharField(label=_("Note"), max_length=300, required=False)


class RunChangeForm(forms.ModelForm):
    """The OEM moves or resizes a run; the flex table judges the change."""

    class Meta:
        model = ProductionRun
        fields = ["quantity", "planned_launch", "due_date"]
        widgets = {
            "planned_launch": forms.DateInput(attrs={"type": "date"}),
            "due_date": forms.DateInput(attrs={"type": "date"}),
        }


class LongLeadItemForm(forms.ModelForm):
    class Meta:
        model = LongLeadItem
        fields = [
            "component",
            "description",
            "lead_time_weeks",
            "quantity_per_assembly",
            "unit_price",
        ]
