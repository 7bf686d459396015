from django import forms
from django.utils.translation import gettext_lazy as _

from .choices import FrozenChoices
from .models import (
    Invitation,
    Membership,
    Organization,
    Partnership,
    Role,
    User,
)


def _time_zone_field(field, **kwargs):
    """Model forms' time zone selects with the choices normalised once (FrozenChoices)."""
    formfield = field.formfield(**kwargs)
    if field.name == "time_zone":
        formfield.choices = FrozenChoices(formfield.choices)  # with the blank one, if any
    return formfield


class OrganizationForm(forms.ModelForm):
    formfield_callback = _time_zone_field

    class Meta:
        model = Organization
        fields = ["name", "country", "website", "founded_year", "time_zone"]


class PartnershipForm(forms.ModelForm):
    class Meta:
        model = Partnership
        fields = ["status", "start_date", "description", "oem_contact", "ems_contact"]
        widgets = {"start_date": forms.DateInput(attrs={"type": "date"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        p = self.instance
        self.fields["oem_contact"].queryset = User.objects.filter(
            memberships__organization_id=p.oem_id
        )
        self.fields["ems_contact"].queryset = User.objects.filter(
            memberships__organization_id=p.ems_id
        )


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["email", "role"]


class MembershipRoleForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role"]


class ProfileForm(forms.ModelForm):
    formfield_callback = _time_zone_field

    class Meta:
        model = User
        fields = ["first_name", "last_name", "time_zone", "language"]


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What uses this token, e.g. 'SAP sync'.")
    )
    expires_in_days = forms.TypedChoiceField(
        label=_("Expires"),
        coerce=int,
        empty_value=None,
        required=False,
        choices=[
            ("30", _("in 30 days")),
            ("90", _("in 90 days")),
            ("365", _("in a year")),
            ("", _("never")),
        ],
        initial="90",
    )


class SwitchOrganizationForm(forms.Form):
    organization = forms.IntegerField()


ROLE_CHOICES = Role.choices
