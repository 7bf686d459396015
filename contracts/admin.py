from django.contrib import admin

from partnership.admin import AuditedAdmin

from .models import (
    Contract,
    DecisionEvent,
    DecisionRequest,
    DecisionRule,
    FlexBand,
    ResponsibilityItem,
)


class FlexBandInline(admin.TabularInline):
    model = FlexBand
    extra = 0


@admin.register(Contract)
class ContractAdmin(AuditedAdmin):
    list_display = ["__str__", "partnership", "status", "effective_from", "activated_at"]
    list_filter = ["status"]
    search_fields = ["partnership__oem__name", "partnership__ems__name", "title"]
    inlines = [FlexBandInline]
    readonly_fields = [
        "content_hash",
        "oem_signed_by",
        "oem_signed_at",
        "ems_signed_by",
        "ems_signed_at",
    ]


@admin.register(ResponsibilityItem)
class ResponsibilityItemAdmin(AuditedAdmin):
    list_display = ["contract", "area", "activity", "oem", "ems"]
    search_fields = ["area", "activity"]


@admin.register(DecisionRule)
class DecisionRuleAdmin(AuditedAdmin):
    list_display = ["contract", "category", "outcome", "response_hours", "clause_ref"]
    list_filter = ["category", "outcome"]


class DecisionEventInline(admin.TabularInline):
    model = DecisionEvent
    extra = 0
    readonly_fields = ["kind", "actor", "text", "created_at"]


@admin.register(DecisionRequest)
class DecisionRequestAdmin(AuditedAdmin):
    list_display = ["reference", "title", "partnership", "category", "mode", "status", "due_at"]
    list_filter = ["status", "mode", "category"]
    search_fields = ["title", "external_id"]
    inlines = [DecisionEventInline]
