"""The bigger rungs: a seat at an event, a booked call, an offer, a checkout.

Like `kinds`, each has a context (what the page shows) and a submit (what a POST does); the
bookings, registrations and orders themselves live in `scheduling` and `offers`. A known lead
says yes in one click; a new visitor gives an email and nothing else.
"""

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from yesladder.funnels import money
from yesladder.offers import links
from yesladder.offers import services as orders
from yesladder.scheduling import invites, sessions
from yesladder.scheduling import services as scheduling
from yesladder.scheduling.zones import LocalTime, posted_time, slot_days, visitor_zone, zone_choices
from yesladder.steps.kinds.base import EMAIL, Submitted, step_url
from yesladder.steps.kinds.fields import keep_fields, read_fields
from yesladder.tracking.journeys import Page


def the_lead(request: HttpRequest, page: Page) -> tuple[object, Submitted | None]:
    """The lead saying yes: the known one, or one made from the email typed on this page."""
    if page.journey.visitor.lead:
        return page.journey.visitor.lead, None
    values, errors = read_fields(request, [EMAIL])
    if errors:
        return None, Submitted(errors=errors, values=values)
    kept = keep_fields(request, page, values, page.step.cta or "Send me what I signed up for.")
    if kept.errors:
        return None, kept
    return page.journey.visitor.lead, None


# --- event -----------------------------------------------------------------------------------


def event_context(request: HttpRequest, page: Page) -> dict:
    step, now = page.step, timezone.now()
    zone = visitor_zone(request, step.sessions[0].timezone)
    mine = list(scheduling.registrations_of(page.journey, step.key))
    upcoming = sessions.upcoming(step, now)
    taken = scheduling.seats_taken(page.journey.funnel, step, [o.start for o in upcoming])
    offered = [
        {
            "when": LocalTime.of(o.start, zone),
            "minutes": int((o.end - o.start).total_seconds() // 60),
            "seats_left": None
            if o.capacity is None
            else max(0, o.capacity - taken.get(o.start, 0)),
        }
        for o in upcoming
    ]
    return {
        "zone": zone,
        "zones": zone_choices(zone, step.sessions[0].timezone),
        "sessions": offered,
        "ask_email": page.journey.visitor.lead is None,
        "mine": [_seat(r, zone, now) for r in mine],
        "next_url": _next_url(page),
    }


def _seat(registration, zone: str, now: dt.datetime) -> dict:
    token = invites.registration_token(registration)
    return {
        "registration": registration,
        "when": LocalTime.of(registration.session.start, zone),
        "manage_url": reverse("scheduling:registration", args=[token]),
        "ics_url": reverse("scheduling:registration-ics", args=[token]),
        "join_url": reverse("scheduling:join", args=[token]),
        "ended": registration.session.end < now,
    }


def event_submit(request: HttpRequest, page: Page) -> Submitted:
    def take_seat(lead, start: dt.datetime) -> None:
        registered = scheduling.register(page.journey, page.step, lead, start)
        invites.send_registration(request, registered.registration)

    return yes_to_a_time(request, page, "Please pick one of the dates.", take_seat)


def yes_to_a_time(request: HttpRequest, page: Page, unpicked: str, take) -> Submitted:
    """The posted time, the lead, then `take(lead, start)`; a time gone meanwhile is said."""
    start = posted_time(request)
    if start is None:
        return Submitted(errors={"start": unpicked})
    lead, problem = the_lead(request, page)
    if problem:
        return problem
    try:
        take(lead, start)
    except (scheduling.SessionGone, scheduling.SlotTaken) as exc:
        return Submitted(errors={"start": str(exc)}, status=409)
    return Submitted(redirect=step_url(page, page.step.key))


# --- booking ---------------------------------------------------------------------------------


def booking_context(request: HttpRequest, page: Page) -> dict:
    step = page.step
    booked = scheduling.live_booking(page.journey, step.key)
    zone = visitor_zone(request, booked.timezone if booked else step.timezone)
    context = {
        "zone": zone,
        "zones": zone_choices(zone, step.timezone),
        "ask_email": page.journey.visitor.lead is None,
        "next_url": _next_url(page),
        "booking": booked,
    }
    if booked:
        token = invites.booking_token(booked)
        return {
            **context,
            "when": LocalTime.of(booked.start, zone),
            "manage_url": reverse("scheduling:booking", args=[token]),
            "ics_url": reverse("scheduling:booking-ics", args=[token]),
            "location": scheduling.location(booked),
        }
    days = slot_days(scheduling.open_slots(step), zone)
    return {**context, "days": days, "unchecked": scheduling.calendar_problems(step)}


def booking_submit(request: HttpRequest, page: Page) -> Submitted:
    def take_slot(lead, start: dt.datetime) -> None:
        zone = visitor_zone(request, page.step.timezone)
        booked = scheduling.book(page.journey, page.step, lead, start, zone)
        invites.send_booking(request, booked.booking)

    return yes_to_a_time(request, page, "Please pick one of the times.", take_slot)


# --- offer and checkout ----------------------------------------------------------------------


def schedule_rows(charges, currency: str, zone: str, start: dt.datetime) -> list[dict]:
    """Every charge with when it is made, as the buyer reads it, before anything is paid."""
    return [
        {
            "label": c.label,
            "amount": money.shown(c.amount, currency),
            "when": LocalTime.of(start + c.after, zone).start,
            "today": c.after == dt.timedelta(0),
            "days": c.after.days,
        }
        for c in charges
    ]


def offer_context(request: HttpRequest, page: Page) -> dict:
    currency = page.spec.currency
    charges = money.schedule(page.step, currency)
    zone = visitor_zone(request, settings.TIME_ZONE)
    order = orders.order_for(page.journey, page.step.key)
    started = order is not None and order.started_at is not None
    start = order.created_at if started else timezone.now()
    return {
        "zone": zone,
        "schedule": schedule_rows(charges, currency, zone, start),
        "total": money.shown(money.total(charges), currency),
        "order": order if started else None,
        "order_url": _order_url(order) if started else "",
        "guarantee": getattr(page.step, "guarantee", None),
        "payments_ready": bool(settings.PAYMENTS),
        "declined": request.GET.get("declined") == "1",
        "ask_email": page.journey.visitor.lead is None,
        "next_url": _next_url(page),
    }


def offer_submit(request: HttpRequest, page: Page) -> Submitted:
    if not settings.PAYMENTS:
        return Submitted(errors={"pay": "Payments are not open on this site yet."}, status=503)
    lead, problem = the_lead(request, page)
    if problem:
        return problem
    zone = visitor_zone(request, "")  # checked against the zone database; "" when unknown
    order = orders.place_order(page.journey, page.step, lead, settings.PAYMENTS, timezone.now(),
                               zone)  # fmt: skip
    if order.total == 0:  # nothing to pay, ever: the yes is the order
        orders.first_payment(order)
        return Submitted(redirect=step_url(page, page.step.key))
    return Submitted(redirect=reverse("offers:pay", args=[links.order_token(order)]))


def checkout_context(request: HttpRequest, page: Page) -> dict:
    if page.step.offer is None:
        return offer_context(request, page)
    order = orders.order_for(page.journey, page.step.offer)
    zone = visitor_zone(request, settings.TIME_ZONE)
    charges = list(order.charges.all()) if order else []
    return {
        "zone": zone,
        "order": order,
        "charges": [
            {
                "charge": c,
                "amount": money.shown(c.amount, order.currency),
                "when": LocalTime.of(c.due_at, zone).start,
            }  # fmt: skip
            for c in charges
        ],
        "paid": money.shown(order.paid(), order.currency) if order else "",
        "order_url": _order_url(order) if order else "",
        "offer_url": step_url(page, page.step.offer),
        "done": page.step.key in page.journey.done,
        "next_url": _next_url(page),
    }


def _order_url(order) -> str:
    """The buyer's own page of the order: its charges, and Cancel."""
    return reverse("offers:order", args=[links.order_token(order)])


def checkout_submit(request: HttpRequest, page: Page) -> Submitted:
    if page.step.offer is None:
        return offer_submit(request, page)
    return Submitted(redirect=step_url(page, page.step.key))


def _next_url(page: Page) -> str | None:
    """Where 'Continue' leads once this step is done: the journey's current step."""
    if page.step.key not in page.journey.done or page.journey.current_step == page.step.key:
        return None
    return step_url(page, page.journey.current_step)
