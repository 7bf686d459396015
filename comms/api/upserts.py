"""Upserts by external_id of meetings, action items, problems and goals
(``partnership.api.upsert``): every row through ``comms.services``, so invitations, owners'
notifications and problem transitions happen exactly as for single writes."""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from partnership.api.upsert import UpsertSpec

from .. import recurrence, services
from ..models import ActionItem, Goal, Meeting, Problem
from .serializers import (
    ActionItemSerializer,
    GoalSerializer,
    MeetingCreateSerializer,
    ProblemSerializer,
)


def _without_partnership(serializer_class):
    return [f for f in serializer_class.Meta.fields if f != "partnership"]


class MeetingRowSerializer(MeetingCreateSerializer):
    partnership = None


class MeetingUpsert(UpsertSpec):
    model = Meeting
    item_serializer_class = MeetingRowSerializer
    m2m_fields = ("attendees",)
    description = _(
        "New meetings invite their attendees; changed ones send an updated invitation (removed "
        "attendees a cancellation). Unchanged meetings send nothing."
    )

    def authorize(self, *, by, partnership):
        services.require_member(by, partnership)

    def changed(self, obj, data):
        if "rrule" in data:  # stored normalised (services.clean_meeting)
            data = {**data, "rrule": recurrence.normalise_rrule(data["rrule"])}
        return super().changed(obj, data)

    def create(self, *, by, partnership, external_id, data):
        return services.schedule_meeting(
            by=by, partnership=partnership, external_id=external_id, **data
        )

    def update(self, *, by, obj, data):
        attendees = data.pop("attendees", None)
        return services.update_meeting(by=by, meeting=obj, attendees=attendees, **data)


class ActionItemRowSerializer(ActionItemSerializer):
    partnership = None
    status = serializers.ChoiceField(choices=ActionItem.Status.choices, required=False)

    class Meta(ActionItemSerializer.Meta):
        fields = _without_partnership(ActionItemSerializer)
        read_only_fields = ["external_id", "created_at", "updated_at"]

    def validate(self, data):
        return data  # links to this partnership: add_action_item / update_action_item


class ActionItemUpsert(UpsertSpec):
    model = ActionItem
    item_serializer_class = ActionItemRowSerializer
    description = _("The owner defaults to you; a new owner is told.")

    def authorize(self, *, by, partnership):
        services.require_member(by, partnership)

    def create(self, *, by, partnership, external_id, data):
        status = data.pop("status", None)
        item = services.add_action_item(
            by=by,
            partnership=partnership,
            external_id=external_id,
            owner=data.pop("owner", None) or by,
            **data,
        )
        if status and status != item.status:
            services.set_action_status(by=by, item=item, status=status)
        return item

    def update(self, *, by, obj, data):
        return services.update_action_item(by=by, item=obj, **data)


class ProblemRowSerializer(ProblemSerializer):
    partnership = None
    status = serializers.ChoiceField(
        choices=Problem.Status.choices,
        required=False,
        help_text=_("open ↔ investigating → resolved → closed, as the status action allows."),
    )
    resolution = serializers.CharField(
        required=False, allow_blank=True, help_text=_("Required to resolve or close.")
    )

    class Meta(ProblemSerializer.Meta):
        fields = _without_partnership(ProblemSerializer)
        read_only_fields = ["number", "external_id", "created_at", "updated_at"]


class ProblemUpsert(UpsertSpec):
    model = Problem
    item_serializer_class = ProblemRowSerializer
    description = _(
        "New problems are numbered and announced as when raised by hand; a different `status` "
        "moves the problem through its transitions (a closed problem is final)."
    )

    def authorize(self, *, by, partnership):
        services.require_member(by, partnership)

    def create(self, *, by, partnership, external_id, data):
        status, resolution = data.pop("status", None), data.pop("resolution", "")
        problem = services.raise_problem(
            by=by,
            partnership=partnership,
            external_id=external_id,
            owner=data.pop("owner", None),
            **data,
        )
        if status and status != problem.status:
            problem = services.update_problem(
                by=by, problem=problem, status=status, resolution=resolution
            )
        return problem

    def update(self, *, by, obj, data):
        return services.update_problem(by=by, problem=obj, **data)


class GoalRowSerializer(GoalSerializer):
    partnership = None

    class Meta(GoalSerializer.Meta):
        fields = _without_partnership(GoalSerializer)


class GoalUpsert(UpsertSpec):
    model = Goal
    item_serializer_class = GoalRowSerializer
    description = _("A new current value is recorded as today's measurement.")

    def authorize(self, *, by, partnership):
        services.require_member(by, partnership)

    def create(self, *, by, partnership, external_id, data):
        data.setdefault("owner", by)
        return services.save_goal(by=by, partnership=partnership, external_id=external_id, **data)

    def update(self, *, by, obj, data):
        return services.save_goal(by=by, partnership=obj.partnership, goal=obj, **data)
