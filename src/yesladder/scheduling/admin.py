from django.contrib import admin, messages
from django.utils import timezone

from yesladder.scheduling import invites, services
from yesladder.scheduling.models import Booking, EventSession, Host, Registration, Reminder


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")


class Marking:
    """Staff's attended / no-show actions on calls or seats (`mark_one` says how)."""

    actions = ["attended", "no_show"]

    @admin.action(description="Mark attended")
    def attended(self, request, queryset) -> None:
        self._mark(request, queryset, Booking.Outcome.ATTENDED)

    @admin.action(description="Mark no-show")
    def no_show(self, request, queryset) -> None:
        self._mark(request, queryset, Booking.Outcome.NO_SHOW)

    def _mark(self, request, queryset, outcome: str) -> None:
        for found in queryset:
            try:
                self.mark_one(request, found, outcome)
            except services.NotYet as exc:
                self.message_user(request, f"{found}: {exc}", messages.ERROR)


@admin.register(Booking)
class BookingAdmin(Marking, admin.ModelAdmin):
    list_display = ("start", "host", "lead", "step_key", "status", "outcome", "timezone")
    # "not marked yet" among calls that ended: the ones a host still has to say about.
    list_filter = ("status", "outcome", "host")
    search_fields = ("lead__email", "host__email")
    readonly_fields = [f.name for f in Booking._meta.fields]

    def mark_one(self, request, booking: Booking, outcome: str) -> None:
        services.mark(booking, outcome, timezone.now(), by="staff")

    def has_add_permission(self, request) -> bool:
        return False  # bookings are made on the booking page, where the host rows are locked


@admin.register(EventSession)
class EventSessionAdmin(admin.ModelAdmin):
    list_display = ("funnel", "step_key", "start", "capacity", "seats_taken")


@admin.register(Registration)
class RegistrationAdmin(Marking, admin.ModelAdmin):
    list_display = ("session", "lead", "status", "outcome", "attended_at", "replay_sent_at")
    list_filter = ("status", "outcome")
    search_fields = ("lead__email",)
    readonly_fields = [f.name for f in Registration._meta.fields]

    def mark_one(self, request, seat: Registration, outcome: str) -> None:
        services.mark_seat(seat, outcome, timezone.now(), by="staff")
        invites.send_replay(request, seat)  # a no-show of a session with a replay


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ("due_at", "before", "booking", "registration", "sent_at")
    list_filter = ("sent_at",)
