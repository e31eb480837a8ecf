"""The calendar side of a booking or a registration: signed links to manage it, its .ics
invite, and the confirmation email that carries the invite."""

from django.core import signing
from django.urls import reverse

from yesladder.leads import emails
from yesladder.scheduling.calendar import Invite, ics
from yesladder.scheduling.models import Booking, Registration

BOOKING_SALT = "yesladder.booking"
REGISTRATION_SALT = "yesladder.registration"
ICS_TYPE = "text/calendar; charset=utf-8; method=REQUEST"


def booking_token(booking: Booking) -> str:
    return signing.dumps({"b": booking.pk}, salt=BOOKING_SALT)


def registration_token(registration: Registration) -> str:
    return signing.dumps({"r": registration.pk}, salt=REGISTRATION_SALT)


def read_token(token: str, salt: str, key: str) -> int | None:
    try:
        claim = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    value = claim.get(key) if isinstance(claim, dict) else None
    return value if isinstance(value, int) else None


def booking_invite(booking: Booking, manage_url: str) -> Invite:
    step = booking.version.spec.step(booking.step_key)
    agenda = "\n".join(
        [f"- {line}" for line in step.agenda.will]
        + [f"- Not: {line}" for line in step.agenda.will_not]
    )
    return Invite(
        uid=f"booking-{booking.pk}@yesladder",
        start=booking.start, end=booking.end, summary=step.title,
        description=f"{step.value or ''}\n\n{agenda}\n\nCancel or reschedule: {manage_url}".strip(),
        organizer_name=booking.host.name, organizer_email=booking.host.email,
        attendee_email=booking.lead.email, url=manage_url,
        sequence=booking.sequence, cancelled=not booking.is_booked,
    )  # fmt: skip


def registration_invite(registration: Registration, manage_url: str, join_url: str) -> Invite:
    step = registration.version.spec.step(registration.session.step_key)
    return Invite(
        uid=f"registration-{registration.pk}@yesladder",
        start=registration.session.start, end=registration.session.end, summary=step.title,
        description=f"{step.value or ''}\n\nJoin: {join_url}\nYour seat: {manage_url}".strip(),
        organizer_name=registration.version.spec.name, organizer_email=emails.from_address(),
        attendee_email=registration.lead.email, url=join_url, location=join_url,
        sequence=registration.sequence,
        cancelled=registration.status == Registration.Status.CANCELLED,
    )  # fmt: skip


def send_booking(request, booking: Booking) -> bool:
    manage = emails.absolute(request, reverse("scheduling:booking", args=[booking_token(booking)]))
    invite = booking_invite(booking, manage)
    step = booking.version.spec.step(booking.step_key)
    subject = f"{'Booked' if booking.is_booked else 'Cancelled'}: {step.title}"
    context = {"booking": booking, "step": step, "manage_url": manage}
    return emails.send(
        booking.lead, subject, "booking", context, (("invite.ics", ics(invite), ICS_TYPE),)
    )


def send_registration(request, registration: Registration) -> bool:
    token = registration_token(registration)
    manage = emails.absolute(request, reverse("scheduling:registration", args=[token]))
    join = emails.absolute(request, reverse("scheduling:join", args=[token]))
    step = registration.version.spec.step(registration.session.step_key)
    attachments = ()
    if registration.status == Registration.Status.REGISTERED:
        attachments = (("invite.ics", ics(registration_invite(registration, manage, join)),
                        ICS_TYPE),)  # fmt: skip
    context = {"registration": registration, "step": step, "manage_url": manage, "join_url": join}
    return emails.send(
        registration.lead, f"Your seat: {step.title}", "registration", context, attachments
    )
