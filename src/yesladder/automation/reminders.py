"""The reminder before a booked call or a session seat: transactional mail through the outbox,
with the links to join or to manage it."""

import datetime as dt
from zoneinfo import ZoneInfo

from django.urls import reverse

from yesladder.automation import compose, outbox
from yesladder.scheduling.invites import booking_token, registration_token
from yesladder.scheduling.models import Booking, Registration, Reminder

BOOKING_BODY = """Hi {{ first_name | "there" }},

a reminder: **{{ title }}** starts {{ when }} ({{ starts }}).

Can't make it? Cancel or move it here: {{ manage_url }}
"""
SESSION_BODY = """Hi {{ first_name | "there" }},

a reminder: **{{ title }}** starts {{ when }} ({{ starts }}).

Join here: {{ join_url }}

Can't make it? Give your seat back here: {{ manage_url }}
"""


def queue(reminder: Reminder) -> int:
    """The reminder's message, if what it reminds of still stands; returns 1 or 0."""
    booking, registration = reminder.booking, reminder.registration
    if booking is not None and booking.status == Booking.Status.BOOKED:
        owner, body, fields = booking, BOOKING_BODY, _booking_fields(booking)
    elif registration is not None and registration.status == Registration.Status.REGISTERED:
        owner, body, fields = registration, SESSION_BODY, _seat_fields(registration)
    else:
        return 0
    fields = {**owner.lead.profile, **fields, "when": _in(reminder.before)}
    rendered = compose.render_text("Reminder: {{ title }} starts {{ when }}", body, fields)
    draft = outbox.Draft(key=f"reminder:{reminder.pk}", to=owner.lead.email,
                         subject=rendered.subject, text=rendered.text, html=rendered.html,
                         template="reminder", marketing=False)  # fmt: skip
    outbox.enqueue(draft, lead=owner.lead, version=owner.version)
    return 1


def _booking_fields(booking: Booking) -> dict:
    zone = ZoneInfo(booking.timezone)
    return {
        "title": booking.version.spec.step(booking.step_key).title,
        "starts": f"{booking.start.astimezone(zone):%A %d %B, %H:%M} ({booking.timezone})",
        "manage_url": outbox.base_url()
        + reverse("scheduling:booking", args=[booking_token(booking)]),
    }


def _seat_fields(registration: Registration) -> dict:
    token = registration_token(registration)
    return {
        "title": registration.version.spec.step(registration.session.step_key).title,
        "starts": f"{registration.session.start:%A %d %B, %H:%M} UTC",
        "manage_url": outbox.base_url() + reverse("scheduling:registration", args=[token]),
        "join_url": outbox.base_url() + reverse("scheduling:join", args=[token]),
    }


def _in(before: dt.timedelta) -> str:
    minutes = int(before.total_seconds() // 60)
    if minutes % 1440 == 0:
        days = minutes // 1440
        return "tomorrow" if days == 1 else f"in {days} days"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "in 1 hour" if hours == 1 else f"in {hours} hours"
    return f"in {minutes} minutes"
