"""The calendar side of a booking or a registration: signed links to manage it, its .ics
invite, and the confirmation email that carries the invite."""

from django.core import signing
from django.urls import reverse

from yesladder.leads import emails
from yesladder.scheduling import services as scheduling
from yesladder.scheduling.calendar import Invite, ics
from yesladder.scheduling.models import Booking, Registration
from yesladder.scheduling.zones import LocalTime
from yesladder.tracking.services import latest_reading

BOOKING_SALT = "yesladder.booking"
OUTCOME_SALT = "yesladder.booking.outcome"
REGISTRATION_SALT = "yesladder.registration"
ICS_TYPE = "text/calendar; charset=utf-8; method=REQUEST"


def booking_token(booking: Booking) -> str:
    return signing.dumps({"b": booking.pk}, salt=BOOKING_SALT)


def outcome_token(booking: Booking, outcome: str) -> str:
    """The host's one-click link to mark the call (a confirmation page, then a POST)."""
    return signing.dumps({"b": booking.pk, "o": outcome}, salt=OUTCOME_SALT)


def read_outcome_token(token: str) -> tuple[int, str] | None:
    try:
        claim = signing.loads(token, salt=OUTCOME_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("b"), int):
        return None
    return (claim["b"], claim["o"]) if claim.get("o") in Booking.Outcome.values else None


def registration_token(registration: Registration) -> str:
    return signing.dumps({"r": registration.pk}, salt=REGISTRATION_SALT)


def read_token(token: str, salt: str, key: str) -> int | None:
    try:
        claim = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    value = claim.get(key) if isinstance(claim, dict) else None
    return value if isinstance(value, int) else None


def booking_invite(booking: Booking, manage_url: str = "") -> Invite:
    """The call's calendar entry; the lead's carries their link to manage it, the host's
    (`manage_url` empty) does not. One UID for both, and for every move of the call."""
    step = booking.version.spec.step(booking.step_key)
    agenda = "\n".join(
        [f"- {line}" for line in step.agenda.will]
        + [f"- Not: {line}" for line in step.agenda.will_not]
    )
    place = scheduling.location(booking)
    manage = f"\n\nCancel or reschedule: {manage_url}" if manage_url else ""
    return Invite(
        uid=booking.calendar_uid,
        start=booking.start, end=booking.end, summary=step.title,
        description=f"{step.value or ''}\n\n{agenda}{manage}".strip(),
        organizer_name=booking.host.name, organizer_email=booking.host.email,
        attendee_email=booking.lead.email, url=manage_url, location=place,
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
    """The lead's email (times in the zone they booked in) and the host's (in the host's zone,
    with one-click links to mark the call), each with the call's .ics: on booking, on a move
    (same UID, higher SEQUENCE) and on cancelling (METHOD:CANCEL)."""
    manage = emails.absolute(request, reverse("scheduling:booking", args=[booking_token(booking)]))
    step = booking.version.spec.step(booking.step_key)
    state = "Booked" if booking.is_booked else "Cancelled"
    context = {"booking": booking, "step": step, "manage_url": manage,
               "location": scheduling.location(booking),
               "when": LocalTime.of(booking.start, booking.timezone).start,
               "zone": booking.timezone}  # fmt: skip
    invite = ics(booking_invite(booking, manage))
    sent = emails.send(booking.lead, f"{state}: {step.title}", "booking", context,
                       (("invite.ics", invite, ICS_TYPE),))  # fmt: skip
    marks = {
        outcome: emails.absolute(request, reverse("scheduling:outcome",
                                                  args=[outcome_token(booking, outcome)]))
        for outcome in (Booking.Outcome.ATTENDED, Booking.Outcome.NO_SHOW)
    }  # fmt: skip
    assessment = latest_reading(booking.lead, booking.version.funnel.key)  # the host prepares
    host_context = {**context, "when": LocalTime.of(booking.start, step.timezone).start,
                    "zone": step.timezone, "lead_when": context["when"],
                    "lead_zone": booking.timezone, "marks": marks,
                    "assessment": assessment}  # fmt: skip
    emails.send_to(booking.host.email, f"{state}: {step.title} with {booking.lead.email}",
                   "booking_host", host_context,
                   (("invite.ics", ics(booking_invite(booking)), ICS_TYPE),))  # fmt: skip
    return sent


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


def send_replay(request, registration: Registration) -> bool:
    """The replay, to a registered person marked as not having come (once, and only when the
    step has a replay); `request` is staff's, or None from a command or the worker."""
    if not scheduling.replay_due(registration):
        return False
    step = registration.version.spec.step(registration.session.step_key)
    path = reverse("scheduling:registration", args=[registration_token(registration)])
    manage = emails.absolute(request, path)
    context = {"registration": registration, "step": step, "replay_url": step.replay_url,
               "manage_url": manage}  # fmt: skip
    return emails.send(registration.lead, f"The replay: {step.title}", "replay", context)
