"""The raw automation records. Rows the engine and the workers write are read only here: an edit
by hand would break the guarantees they keep (each message once, each run in one place). The
dashboard (/dashboard/) is the friendlier view of the same data."""

from django.contrib import admin, messages

from yesladder.automation import outbox
from yesladder.automation.models import (
    Enrollment,
    Hook,
    HookDelivery,
    Message,
    Standing,
    Suppression,
)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(ReadOnly):
    list_display = ("id", "template", "to", "state", "due_at", "attempts", "sent_at")
    list_filter = ("state", "template", "marketing")
    search_fields = ("to", "subject", "key")
    date_hierarchy = "due_at"
    exclude = ("token", "pixel_token")  # either one, seen, would act for the recipient
    actions = ["send_again"]
    show_full_result_count = False

    @admin.action(description="Send the selected dead letters again", permissions=["send_again"])
    def send_again(self, request, queryset) -> None:
        dead = list(queryset.filter(state=Message.State.DEAD))
        for message in dead:
            outbox.retry_dead(message)
        skipped = queryset.count() - len(dead)
        self.message_user(request, f"{len(dead)} dead letter(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} selected message(s) were not dead; left alone.", messages.INFO
            )

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # an outbox row is the proof a decision was made
        return actions

    def has_send_again_permission(self, request) -> bool:
        return request.user.has_perm("automation.change_message")


@admin.register(Suppression)
class SuppressionAdmin(ReadOnly):
    list_display = ("email_hash", "reason", "detail", "created_at")
    list_filter = ("reason",)
    search_fields = ("email_hash",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # unsuppressing someone is their decision (a new opt-in), not staff's


@admin.register(Hook)
class HookAdmin(admin.ModelAdmin):
    list_display = ("url", "topics", "active", "allow_private", "created_at")
    list_filter = ("active",)
    readonly_fields = ("secret", "created_at")


@admin.register(HookDelivery)
class HookDeliveryAdmin(ReadOnly):
    list_display = ("id", "topic", "hook", "state", "due_at", "attempts", "last_status")
    list_filter = ("state", "topic")
    list_select_related = ("hook",)
    show_full_result_count = False


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnly):
    list_display = ("lead", "funnel", "automation", "state", "position", "wake_at", "started_at")
    list_filter = ("state", "funnel", "automation")
    search_fields = ("lead__email", "automation")
    list_select_related = ("lead", "funnel")


@admin.register(Standing)
class StandingAdmin(ReadOnly):
    list_display = ("lead", "funnel", "score", "segments", "computed_at")
    list_filter = ("funnel",)
    search_fields = ("lead__email",)
    list_select_related = ("lead", "funnel")
