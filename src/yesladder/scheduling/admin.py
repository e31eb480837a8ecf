from django.contrib import admin

from yesladder.scheduling.models import Booking, EventSession, Host, Registration, Reminder


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ("name", "email")
    search_fields = ("name", "email")


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ("start", "host", "lead", "step_key", "status", "timezone")
    list_filter = ("status", "host")
    search_fields = ("lead__email", "host__email")
    readonly_fields = [f.name for f in Booking._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # bookings are made on the booking page, where the host rows are locked


@admin.register(EventSession)
class EventSessionAdmin(admin.ModelAdmin):
    list_display = ("funnel", "step_key", "start", "capacity", "seats_taken")


@admin.register(Registration)
class RegistrationAdmin(admin.ModelAdmin):
    list_display = ("session", "lead", "status", "attended_at", "created_at")
    list_filter = ("status",)
    search_fields = ("lead__email",)
    readonly_fields = [f.name for f in Registration._meta.fields]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ("due_at", "before", "booking", "registration", "sent_at")
    list_filter = ("sent_at",)
