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
