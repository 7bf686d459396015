"""Upsert by external_id of findings (``partnership.api.upsert``) through ``audits.services``:
OEM auditors raise them in an audit of the partnership, numbered and announced to the EMS;
an open finding without an 8D may still be corrected."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from partnership.api.upsert import UpsertSpec

from .. import services
from ..models import Finding
from .serializers import FindingSerializer


class FindingRowSerializer(FindingSerializer):
    partnership = None

    class Meta(FindingSerializer.Meta):
        fields = [f for f in FindingSerializer.Meta.fields if f != "partnership"]
        read_only_fields = [*FindingSerializer.Meta.read_only_fields, "external_id"]


class FindingUpsert(UpsertSpec):
    model = Finding
    item_serializer_class = FindingRowSerializer
    description = _(
        "`audit` must be an audit of the partnership, in progress or with its report issued. "
        "Only open findings without a corrective action change; the audit never does."
    )

    def authorize(self, *, by, partnership):
        services.require_oem_auditor(by, partnership)

    def check(self, *, partnership, data):
        audit = data.get("audit")
        if audit is not None and audit.partnership_id != partnership.pk:
            raise ValidationError({"audit": _("Choose an audit of this partnership.")})

    def create(self, *, by, partnership, external_id, data):
        return services.raise_finding(
            by=by, audit=data.pop("audit"), external_id=external_id, **data
        )

    def update(self, *, by, obj, data):
        if "audit" in data:
            raise ValidationError({"audit": _("A finding stays in its audit.")})
        return services.update_finding(by=by, finding=obj, **data)
