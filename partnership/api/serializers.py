from rest_framework import serializers

from ..models import Organization, Partnership


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "country",
            "website",
            "founded_year",
            "time_zone",
            "updated_at",
        ]


class PartyContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()


class PartnershipSerializer(serializers.ModelSerializer):
    oem = OrganizationSerializer(read_only=True)
    ems = OrganizationSerializer(read_only=True)
    oem_contact = PartyContactSerializer(read_only=True, allow_null=True)
    ems_contact = PartyContactSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Partnership
        fields = [
            "id",
            "oem",
            "ems",
            "status",
            "start_date",
            "description",
            "oem_contact",
            "ems_contact",
            "created_at",
            "updated_at",
        ]


class FieldChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The field's name in the API and the database.")
    label = serializers.CharField(help_text="The field's name as the portal shows it.")
    before = serializers.CharField(help_text="Value before the change, as shown; '' if empty.")
    after = serializers.CharField(help_text="Value after the change, as shown; '' if empty.")


class HistoryEntrySerializer(serializers.Serializer):
    """One recorded change of a business object (read-only: history cannot be written)."""

    kind = serializers.CharField(source="kind_key", help_text="Object type, e.g. `run`.")
    kind_label = serializers.CharField()
    object_id = serializers.IntegerField()
    object = serializers.CharField(source="object_title")
    history_id = serializers.IntegerField(help_text="Unique per object type.")
    at = serializers.DateTimeField(source="when")
    action = serializers.ChoiceField(choices=["created", "changed", "deleted"])
    user_id = serializers.IntegerField(allow_null=True, help_text="Null: a system change.")
    user = serializers.CharField(source="who")
    organisation = serializers.CharField(help_text="The user's side(s) in this partnership.")
    changes = FieldChangeSerializer(many=True)


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)
