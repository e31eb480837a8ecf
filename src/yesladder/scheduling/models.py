"""Time slots that people put in their calendars: webinar seats and booked calls."""

from django.db import models
from django.db.models import Q


class Host(models.Model):
    """A person who takes calls. One calendar per email, across every funnel and step, so the
    same host is never booked twice at once from two ladders."""

    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=500)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class Booking(models.Model):
    class Status(models.TextChoices):
        BOOKED = "booked"
        CANCELLED = "cancelled"

    class Outcome(models.TextChoices):
        UNMARKED = "", "not marked yet"
        ATTENDED = "attended", "attended"
        NO_SHOW = "no_show", "no-show"

    host = models.ForeignKey(Host, on_delete=models.PROTECT, related_name="bookings")
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="bookings")
    journey = models.ForeignKey(
        "tracking.Journey", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="bookings",
    )  # fmt: skip
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.PROTECT)
    step_key = models.CharField(max_length=64)
    start = models.DateTimeField()
    end = models.DateTimeField()
    timezone = models.CharField(max_length=64, help_text="the visitor's zone when booking")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.BOOKED)
    sequence = models.PositiveIntegerField(default=0, help_text="the .ics SEQUENCE")
    # One calendar entry per call, across the lead's and the host's calendars and every move.
    uid = models.CharField(max_length=100, blank=True, help_text="the .ics UID")
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True, default="")
    outcome_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    rescheduled_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rescheduled_from"
    )

    class Meta:
        ordering = ["start"]
        constraints = [
            # The last line of defence; the booking service locks the host rows first.
            models.UniqueConstraint(
                fields=["host", "start"], condition=Q(status="booked"), name="one_call_per_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.host.name} with {self.lead} at {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def is_booked(self) -> bool:
        return self.status == self.Status.BOOKED

    @property
    def calendar_uid(self) -> str:
        return self.uid or f"booking-{self.pk}@yesladder"  # booked before uids were kept


class EventSession(models.Model):
    """One date of an event step; registrations lock this row to keep to its capacity."""

    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE)
    step_key = models.CharField(max_length=64)
    start = models.DateTimeField()
    end = models.DateTimeField()
    capacity = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["funnel", "step_key", "start"], name="one_session")
        ]

    def __str__(self) -> str:
        return f"{self.funnel.key}/{self.step_key} at {self.start:%Y-%m-%d %H:%M} UTC"

    def seats_taken(self) -> int:
        return self.registrations.filter(status=Registration.Status.REGISTERED).count()


class Registration(models.Model):
    class Status(models.TextChoices):
        REGISTERED = "registered"
        WAITLISTED = "waitlisted"
        CANCELLED = "cancelled"

    session = models.ForeignKey(
        EventSession, on_delete=models.CASCADE, related_name="registrations"
    )
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="registrations")
    journey = models.ForeignKey(
        "tracking.Journey", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="registrations",
    )  # fmt: skip
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.PROTECT)
    status = models.CharField(max_length=16, choices=Status.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    attended_at = models.DateTimeField(null=True, blank=True)
    sequence = models.PositiveIntegerField(default=0)
    # Whether they came, from the join link (attended) or staff's mark after the session.
    outcome = models.CharField(
        max_length=16, choices=Booking.Outcome.choices, blank=True, default=""
    )
    outcome_at = models.DateTimeField(null=True, blank=True)
    replay_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "lead"], name="one_seat_per_lead")
        ]

    def __str__(self) -> str:
        return f"{self.lead} {self.status} for {self.session}"


class Reminder(models.Model):
    """A reminder due before a call or a session. Written with the booking or registration;
    the automation worker sends the due ones and stamps `sent_at`."""

    booking = models.ForeignKey(
        Booking, null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    registration = models.ForeignKey(
        Registration, null=True, blank=True, on_delete=models.CASCADE, related_name="reminders"
    )
    before = models.DurationField(help_text="how long before the start")
    due_at = models.DateTimeField(db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(booking__isnull=True) ^ Q(registration__isnull=True),
                name="reminder_for_one_thing",
            )
        ]

    def __str__(self) -> str:
        return f"reminder {self.before} before, due {self.due_at:%Y-%m-%d %H:%M} UTC"


class CalendarRead(models.Model):
    """The last read of a host's own calendar (an ICS feed or a CalDAV calendar), made by the
    worker every few minutes; pages of slots only read it."""

    key = models.CharField(max_length=64, unique=True, help_text="digest of the address")
    address = models.CharField(max_length=2000)
    checked_at = models.DateTimeField(help_text="the last try")
    good_at = models.DateTimeField(null=True, blank=True, help_text="the last good read")
    problem = models.CharField(max_length=300, blank=True, help_text="why the last try failed")
    intervals = models.JSONField(default=list, help_text="busy [start, end] pairs, UTC")

    def __str__(self) -> str:
        return f"{self.address} read {self.checked_at:%Y-%m-%d %H:%M} UTC"
