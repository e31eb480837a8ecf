from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from yesladder.tracking import sites
from yesladder.tracking.models import Event, Site, WriteKey


class SiteForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ["name", "origins"]

    def clean_origins(self):
        origins = self.cleaned_data["origins"] or []
        if not isinstance(origins, list):
            raise forms.ValidationError('A list of origins, like ["https://blog.example.com"].')
        try:
            return [sites.normalise_origin(str(o)) for o in origins]
        except sites.InvalidOrigin as exc:
            raise forms.ValidationError(str(exc)) from None


class WriteKeyInline(admin.TabularInline):
    model = WriteKey
    extra = 0
    fields = ["key", "created_at", "revoked_at"]
    readonly_fields = ["key", "created_at", "revoked_at"]
    can_delete = False


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    form = SiteForm
    list_display = ["name", "created_at"]
    inlines = [WriteKeyInline]


@admin.register(WriteKey)
class WriteKeyAdmin(admin.ModelAdmin):
    list_display = ["site", "key", "created_at", "revoked_at"]
    list_filter = ["site"]
    fields = ["site", "key", "created_at", "revoked_at"]
    readonly_fields = ["key", "created_at", "revoked_at"]
    actions = ["revoke"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None  # a key is made or revoked, never edited

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} key(s).", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The event log, read only. Everything in it came from strangers: shown escaped."""

    list_display = ["occurred_at", "name", "label", "step_key", "site", "visitor", "is_bot"]
    list_filter = ["name", "is_bot", "site"]
    search_fields = ["label", "step_key", "message_id"]
    list_select_related = ["site"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
