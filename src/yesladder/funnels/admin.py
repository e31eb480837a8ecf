from django.contrib import admin

from yesladder.funnels.models import Funnel, FunnelVersion, Step


class StepInline(admin.TabularInline):
    model = Step
    extra = 0
    can_delete = False
    readonly_fields = ["position", "key", "kind", "title", "macro", "commitment_cost"]
    fields = readonly_fields


@admin.register(Funnel)
class FunnelAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "created_at"]
    search_fields = ["key", "name"]


@admin.register(FunnelVersion)
class FunnelVersionAdmin(admin.ModelAdmin):
    list_display = ["funnel", "number", "created_at", "source_file"]
    list_filter = ["funnel"]
    readonly_fields = ["funnel", "number", "digest", "source_file", "created_at", "source"]
    exclude = ["spec_json"]
    inlines = [StepInline]

    def has_add_permission(self, request) -> bool:
        return False  # versions come from `yesladder load`, never typed in
