"""Booking calls and registering for sessions, safely under concurrent requests.

A slot is never booked twice: the booking locks the step's host rows (`SELECT ... FOR UPDATE`
on PostgreSQL; on SQLite every write transaction already holds the one write lock from BEGIN
IMMEDIATE), re-reads the hosts' calls, and only then writes. A unique index on (host, start)
for live bookings is the last line of defence. Registrations lock their session row the same
way to keep to its capacity.
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from yesladder.events import EventName
from yesladder.funnels.spec.schema import Booking as BookingStep
from yesladder.funnels.spec.schema import Event as EventStep
from yesladder.leads.models import Lead
from yesladder.scheduling import host_calendars, sessions, slots
from yesladder.scheduling.models import Booking, EventSession, Host, Registration, Reminder
from yesladder.tracking.journeys import finish
from yesladder.tracking.models import Journey
from yesladder.tracking.services import reacting_together, record


class SlotTaken(Exception):
    """The slot was taken (or is no longer offered) between showing and booking it."""


class SessionGone(Exception):
    """The session is not offered any more (it started, or the spec changed)."""


# --- bookings --------------------------------------------------------------------------------


def _hosts(step: BookingStep, lock: bool) -> list[Host]:
    """The step's host rows; booking (`lock`) makes missing ones and locks them all. Showing
    slots only reads: a host without a row has no calls yet."""
    if lock:
        for h in step.hosts:
            Host.objects.get_or_create(email=h.email.lower(), defaults={"name": h.name})
    hosts = Host.objects.filter(email__in=slots.host_emails(step)).order_by("pk")
    return list(hosts.select_for_update() if lock else hosts)


def busy(step: BookingStep, hosts: list[Host], now: dt.datetime) -> list[slots.Busy]:
    """The hosts' live calls that could clash with a slot this step offers."""
    margin = dt.timedelta(minutes=step.buffer_before + step.buffer_after + step.duration)
    calls = Booking.objects.filter(
        host__in=hosts, status=Booking.Status.BOOKED,
        end__gt=now + step.notice - margin, start__lt=now + step.horizon + margin,
    ).select_related("host")  # fmt: skip
    return [slots.Busy(c.host.email, c.start, c.end) for c in calls] + _own_calendars(step, now)


def _own_calendars(step: BookingStep, now: dt.datetime) -> list[slots.Busy]:
    """The busy times of the hosts' own calendars; a host whose calendar cannot be checked
    (no good read recent enough) is busy for the whole window."""
    until = now + step.horizon + dt.timedelta(days=1)
    found = []
    for host in step.hosts:
        if host.busy is None:
            continue
        read = host_calendars.host_busy(host.busy, now)
        spans = [(now - dt.timedelta(days=1), until)] if read.blocked else read.intervals
        found += [slots.Busy(host.email.lower(), start, end) for start, end in spans]
    return found


def calendar_problems(step: BookingStep) -> list[str]:
    """Hosts whose calendar could not be read the last time (the slot list may be short)."""
    return [h.name for h in step.hosts if h.busy and host_calendars.last_problem(h.busy)]


def open_slots(step: BookingStep, now: dt.datetime | None = None) -> list[slots.Slot]:
    now = now or timezone.now()
    return slots.open_slots(step, now, busy(step, _hosts(step, lock=False), now))


@dataclass(frozen=True)
class Booked:
    booking: Booking
    next_step: str | None


def book(
    journey: Journey, step: BookingStep, lead: Lead, start: dt.datetime, visitor_zone: str,
    now: dt.datetime | None = None, replacing: Booking | None = None,
) -> Booked:  # fmt: skip
    """Book the slot starting at `start` (UTC) with a free host, or raise SlotTaken."""
    now = now or timezone.now()
    with transaction.atomic():
        hosts = _hosts(step, lock=True)
        if replacing:  # re-read under the lock: a double click must not move a call twice
            replacing = Booking.objects.select_related("host").get(pk=replacing.pk)
            if not replacing.is_booked:
                raise SlotTaken("This call was already moved or cancelled.")
        elif live_booking(journey, step.key):
            raise SlotTaken("You already have a call booked; reschedule it from its page.")
        taken = busy(step, hosts, now)
        if replacing:
            taken = [
                b for b in taken if (b.host, b.start) != (replacing.host.email, replacing.start)
            ]
        slot = next((s for s in slots.candidate_slots(step, now) if s.start == start), None)
        free = slots.free_hosts(step, slot, taken) if slot else []
        if not free:
            raise SlotTaken("That time was just taken. Please pick another one.")
        load = dict(
            Booking.objects.filter(host__in=hosts, status=Booking.Status.BOOKED, start__gte=now)
            .values_list("host__email")
            .annotate(n=Count("id"))
        )
        host = next(h for h in hosts if h.email == slots.next_host(free, load))
        # A moved call keeps its calendar entry: same UID, a higher SEQUENCE.
        uid = replacing.calendar_uid if replacing else f"booking-{uuid.uuid4().hex}@yesladder"
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    host=host, lead=lead, journey=journey, version=journey.version,
                    step_key=step.key, start=slot.start, end=slot.end, timezone=visitor_zone,
                    uid=uid, sequence=replacing.sequence + 1 if replacing else 0,
                )  # fmt: skip
        except IntegrityError:
            raise SlotTaken("That time was just taken. Please pick another one.") from None
        _remind(step.reminders, slot.start, now, booking=booking)
        properties = {"start": slot.start.isoformat(), "host": host.email, "booking": booking.pk}
        if replacing:
            _cancel(replacing, now, rescheduled_to=booking)
            properties["rescheduled_from"] = replacing.pk
        record(EventName.BOOKED, journey.visitor, journey.version, step.key, properties)
        following = finish(journey, step)
    return Booked(booking, following)


def _remind(befores: list[dt.timedelta], start: dt.datetime, now: dt.datetime, **owner) -> None:
    """Reminders still ahead are recorded now; the automation worker sends them when due."""
    Reminder.objects.bulk_create(
        Reminder(before=b, due_at=start - b, **owner) for b in befores if start - b > now
    )


def _cancel(booking: Booking, now: dt.datetime, rescheduled_to: Booking | None = None) -> None:
    booking.status, booking.cancelled_at = Booking.Status.CANCELLED, now
    booking.rescheduled_to, booking.sequence = rescheduled_to, booking.sequence + 1
    booking.save(update_fields=["status", "cancelled_at", "rescheduled_to", "sequence"])
    booking.reminders.filter(sent_at=None).delete()


def cancel(booking: Booking, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    with transaction.atomic():
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("journey__visitor")
            .get(pk=booking.pk)
        )
        if not booking.is_booked:
            return False
        _cancel(booking, now)
        if booking.journey:
            record(
                EventName.CANCELLED, booking.journey.visitor, booking.version, booking.step_key,
                {"booking": booking.pk, "start": booking.start.isoformat()},
            )  # fmt: skip
    return True


class NotYet(Exception):
    """A call cannot be marked before it starts; the message says when it does."""


def mark(booking: Booking, outcome: str, now: dt.datetime | None = None, by: str = "host") -> bool:
    """Whether the call happened, as its host (or staff) says: `call_attended` or
    `call_no_show` for the lead, so a no-show can start a rebooking follow-up and "attended"
    can be a rung. The same mark twice is once; a different one corrects it."""
    now = now or timezone.now()
    outcome = Booking.Outcome(outcome)
    with transaction.atomic(), reacting_together():
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("journey__visitor")
            .get(pk=booking.pk)
        )
        if not booking.is_booked:
            raise NotYet("This call was cancelled or moved; there is nothing to mark.")
        if now < booking.start:
            raise NotYet(f"This call starts at {booking.start:%-d %b %Y, %H:%M} UTC; mark it "
                         "once it has started.")  # fmt: skip
        if booking.outcome == outcome:
            return False
        booking.outcome, booking.outcome_at = outcome, now
        booking.save(update_fields=["outcome", "outcome_at"])
        if booking.journey:
            name = EventName.CALL_ATTENDED if outcome == "attended" else EventName.CALL_NO_SHOW
            properties = {"booking": booking.pk, "start": booking.start.isoformat(), "by": by}
            record(name, booking.journey.visitor, booking.version, booking.step_key, properties)
    return True


def location(booking: Booking) -> str:
    """Where the call happens: the host's place, else the step's; `{booking}` in it becomes a
    code of this call's own (kept when the call moves), for a video room made per booking."""
    step = booking.version.spec.step(booking.step_key)
    host = next((h for h in step.hosts if h.email.lower() == booking.host.email), None)
    place = (host and host.location) or step.location or ""
    code = booking.calendar_uid.split("@")[0].removeprefix("booking-")[:16]  # 64 random bits
    return place.replace("{booking}", code)


def reschedule(booking: Booking, start: dt.datetime, now: dt.datetime | None = None) -> Booked:
    step = booking.version.spec.step(booking.step_key)
    if not booking.is_booked:
        raise SlotTaken("This call was cancelled; please book a new one.")
    return book(booking.journey, step, booking.lead, start, booking.timezone, now, booking)


# --- event registrations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    registration: Registration
    next_step: str | None


def register(
    journey: Journey, step: EventStep, lead: Lead, start: dt.datetime,
    now: dt.datetime | None = None,
) -> Registered:  # fmt: skip
    """A seat at the session starting at `start`, or a place on its waitlist when it is full.
    Registering twice for the same session keeps the first registration."""
    now = now or timezone.now()
    occurrence = sessions.find(step, start, now)
    if occurrence is None:
        raise SessionGone("That session is no longer open. Please pick another date.")
    with transaction.atomic():
        session, _ = EventSession.objects.get_or_create(
            funnel=journey.funnel, step_key=step.key, start=occurrence.start,
            defaults={"end": occurrence.end, "capacity": occurrence.capacity},
        )  # fmt: skip
        session = EventSession.objects.select_for_update().get(pk=session.pk)
        existing = session.registrations.filter(lead=lead).first()
        if existing and existing.status != Registration.Status.CANCELLED:
            return Registered(existing, finish(journey, step))
        full = session.capacity is not None and session.seats_taken() >= session.capacity
        status = Registration.Status.WAITLISTED if full else Registration.Status.REGISTERED
        registration = existing or Registration(session=session, lead=lead)
        registration.journey, registration.version, registration.status = (
            journey, journey.version, status)  # fmt: skip
        registration.save()
        if not full:
            _remind(step.reminders, session.start, now, registration=registration)
        record(
            EventName.REGISTERED, journey.visitor, journey.version, step.key,
            {"start": session.start.isoformat(), "waitlisted": full,
             "registration": registration.pk},
        )  # fmt: skip
        return Registered(registration, finish(journey, step))


def cancel_registration(registration: Registration, now: dt.datetime | None = None) -> bool:
    """Give the seat back; the first person on the waitlist gets it."""
    now = now or timezone.now()
    with transaction.atomic():
        session = EventSession.objects.select_for_update().get(pk=registration.session_id)
        registration = Registration.objects.select_related("journey__visitor").get(
            pk=registration.pk
        )
        if registration.status == Registration.Status.CANCELLED:
            return False
        had_seat = registration.status == Registration.Status.REGISTERED
        registration.status, registration.sequence = (
            Registration.Status.CANCELLED, registration.sequence + 1)  # fmt: skip
        registration.save(update_fields=["status", "sequence"])
        registration.reminders.filter(sent_at=None).delete()
        _log(registration, EventName.CANCELLED)
        if had_seat:
            _promote(session, now)
    return True


def _promote(session: EventSession, now: dt.datetime) -> None:
    waiting = session.registrations.filter(status=Registration.Status.WAITLISTED).first()
    if waiting is None:
        return
    waiting.status = Registration.Status.REGISTERED
    waiting.save(update_fields=["status"])
    step = waiting.version.spec.step(session.step_key)
    _remind(step.reminders if step else [], session.start, now, registration=waiting)
    _log(waiting, EventName.REGISTERED, promoted=True)


def _log(registration: Registration, name: EventName, **properties) -> None:
    if registration.journey is None:
        return
    record(
        name, registration.journey.visitor, registration.version, registration.session.step_key,
        {"start": registration.session.start.isoformat(), "registration": registration.pk,
         **properties},
    )  # fmt: skip


JOIN_EARLY = dt.timedelta(minutes=15)


def join(registration: Registration, now: dt.datetime | None = None) -> str:
    """What the join link does now: 'early', 'live' (attendance recorded once), 'ended'."""
    now = now or timezone.now()
    session = registration.session
    if now < session.start - JOIN_EARLY:
        return "early"
    if now > session.end:
        return "ended"
    updated = Registration.objects.filter(pk=registration.pk, attended_at=None).update(
        attended_at=now, outcome=Booking.Outcome.ATTENDED, outcome_at=now
    )
    if updated:
        _log(registration, EventName.ATTENDED)
    return "live"


def mark_seat(registration: Registration, outcome: str, now: dt.datetime | None = None,
              by: str = "staff") -> bool:  # fmt: skip
    """Whether a registered person came, as staff says once the session has ended: `attended`
    (as the join link records it) or `webinar_no_show`, so a no-show can get the replay and
    start a follow-up. The same mark twice is once; a different one corrects it."""
    now = now or timezone.now()
    outcome = Booking.Outcome(outcome)
    with transaction.atomic(), reacting_together():
        seat = (
            Registration.objects.select_for_update(of=("self",))
            .select_related("session", "journey__visitor")
            .get(pk=registration.pk)
        )
        if seat.status != Registration.Status.REGISTERED:
            raise NotYet("This seat was cancelled or never confirmed; there is nothing to mark.")
        if now < seat.session.end:
            raise NotYet(f"This session ends at {seat.session.end:%-d %b %Y, %H:%M} UTC; mark "
                         "it once it has ended.")  # fmt: skip
        if seat.outcome == outcome:
            return False
        seat.outcome, seat.outcome_at = outcome, now
        if outcome == Booking.Outcome.ATTENDED:
            seat.attended_at = seat.attended_at or now
        seat.save(update_fields=["outcome", "outcome_at", "attended_at"])
        attended = outcome == Booking.Outcome.ATTENDED
        _log(seat, EventName.ATTENDED if attended else EventName.WEBINAR_NO_SHOW, by=by)
    return True


def replay_due(registration: Registration, now: dt.datetime | None = None) -> bool:
    """Claims the replay email of a no-show, once: True for the caller who should send it."""
    step = registration.version.spec.step(registration.session.step_key)
    if not (step and step.replay_url):
        return False
    unsent = Registration.objects.filter(
        pk=registration.pk, outcome=Booking.Outcome.NO_SHOW, replay_sent_at=None
    )
    return bool(unsent.update(replay_sent_at=now or timezone.now()))


MARKING_DAYS = 30  # how far back staff are shown calls and sessions to mark


def ended_calls(funnel, now: dt.datetime) -> list[Booking]:
    """The funnel's calls that ended in the last days, the ones nobody marked first: what a
    host still has to say about."""
    calls = Booking.objects.filter(
        version__funnel=funnel, status=Booking.Status.BOOKED, end__lte=now,
        end__gt=now - dt.timedelta(days=MARKING_DAYS),
    ).select_related("lead", "host")  # fmt: skip
    return sorted(calls, key=lambda b: (b.outcome != "", -b.start.timestamp()))


def ended_sessions(funnel, now: dt.datetime) -> list[tuple[EventSession, list[Registration]]]:
    """The funnel's sessions that ended in the last days, each with its seats (registered
    people), latest first."""
    found = EventSession.objects.filter(
        funnel=funnel, end__lte=now, end__gt=now - dt.timedelta(days=MARKING_DAYS)
    ).order_by("-start")
    seats = Registration.objects.filter(
        session__in=found, status=Registration.Status.REGISTERED
    ).select_related("lead")
    by_session: dict[int, list[Registration]] = {}
    for seat in seats:
        by_session.setdefault(seat.session_id, []).append(seat)
    return [(session, by_session.get(session.pk, [])) for session in found]


def registrations_of(journey: Journey, step_key: str):
    return (
        Registration.objects.filter(journey=journey, session__step_key=step_key)
        .exclude(status=Registration.Status.CANCELLED)
        .select_related("session")
    )


def live_booking(journey: Journey, step_key: str) -> Booking | None:
    return (
        Booking.objects.filter(journey=journey, step_key=step_key, status=Booking.Status.BOOKED)
        .select_related("host")
        .first()
    )


def seats_taken(funnel, step: EventStep, starts: list[dt.datetime]) -> dict[dt.datetime, int]:
    """Seats taken per session start (sessions nobody registered for yet have none taken)."""
    rows = EventSession.objects.filter(funnel=funnel, step_key=step.key, start__in=starts).annotate(
        taken=Count("registrations", filter=Q(registrations__status="registered"))
    )
    return {row.start: row.taken for row in rows}
