"""Upsert by external_id of decision requests (``partnership.api.upsert``): new ones are
raised and routed by ``contracts.services``; a raised request keeps the facts it was routed
on, so sending it again with the same facts changes nothing and other facts are refused."""

from django.utils.translation import gettext_lazy as _

from partnership.api.upsert import UpsertSpec

from .. import services
from ..models import DecisionRequest
from .serializers import DecisionRequestSerializer


class DecisionRequestRowSerializer(DecisionRequestSerializer):
    partnership = None

    class Meta(DecisionRequestSerializer.Meta):
        fields = [f for f in DecisionRequestSerializer.Meta.fields if f != "partnership"]
        read_only_fields = [*DecisionRequestSerializer.Meta.read_only_fields, "external_id"]


class DecisionRequestUpsert(UpsertSpec):
    model = DecisionRequest
    item_serializer_class = DecisionRequestRowSerializer
    description = _(
        "New requests are routed by the active contract (EMS). A raised request keeps its facts: "
        "the same row again is unchanged, different facts are a row error (withdraw it and "
        "raise a new one)."
    )

    def authorize(self, *, by, partnership):
        services.require_can_raise(by, partnership)

    def create(self, *, by, partnership, external_id, data):
        return services.raise_decision_request(
            by=by, partnership=partnership, external_id=external_id, **data
        )

    def update(self, *, by, obj, data):
        services.restate_decision_request(by=by, request=obj, **data)
        return obj
