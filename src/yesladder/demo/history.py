"""A synthetic crowd's history, made to look like the traffic of real weeks.

The crowd walks the real pages within a minute; people take hours to days from one rung to
the next, come on weekdays more than at weekends and by day more than at night, and wait out a
trial before its first full payment. Each walked visitor gets a start time drawn from that
weekly rhythm, and its events keep their order and the seconds between them on one step, with
a gap of hours to days put before each new rung (none after a payment: the buyer is sent on at
once; the trial's days before the payment that ends it; a cancelled trial's refund inside its
week, other refunds days later). Before that, the weeks after the walk are played through the
real offer services (`after_the_walk`); after it, the funnels' counts are made again from the
rewritten event log.
"""

import contextlib
import datetime as dt
import math
import random
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from yesladder.analytics.progress import recount_all
from yesladder.automation import bounces
from yesladder.automation.engine import wake_due
from yesladder.automation.models import Message, Suppression
from yesladder.events import EventName
from yesladder.experiments.models import Exposure
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.offers.models import Charge, Order
from yesladder.offers.services import (
    CancelRefused,
    RefundRefused,
    cancel,
    card_updated,
    collect_due,
    refund,
)
from yesladder.scheduling import invites
from yesladder.scheduling.models import Booking, Registration
from yesladder.scheduling.services import mark, mark_seat
from yesladder.tracking.models import Event, Journey

# Relative traffic by weekday (Monday first) and by hour of the day (UTC).
WEEKDAYS = (1.0, 1.0, 0.95, 0.95, 0.85, 0.5, 0.45)
HOURS = (0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.45, 0.7, 0.9, 1.0, 1.0, 0.95,
         0.9, 0.95, 1.0, 0.95, 0.9, 0.8, 0.75, 0.8, 0.85, 0.7, 0.45, 0.25)  # fmt: skip
RUNG_GAP_MEDIAN_HOURS = 5.0  # half of those who go on take the next rung within ~5 hours
RUNG_GAP_SPREAD = 1.4  # lognormal sigma: minutes for some, several days for others
MAX_GAP_ON_A_STEP = dt.timedelta(minutes=3)  # between two actions on one page
AFTER_THE_DATE = frozenset({EventName.CALL_ATTENDED, EventName.CALL_NO_SHOW, EventName.ATTENDED,
                            EventName.WEBINAR_NO_SHOW})  # fmt: skip


def weekly_start(rng: random.Random, days: float, now: dt.datetime) -> dt.datetime:
    """A time in the last `days`, weighted by the weekly rhythm (rejection sampling)."""
    while True:
        when = now - dt.timedelta(seconds=rng.uniform(0, days * 86_400))
        if rng.random() < WEEKDAYS[when.weekday()] * HOURS[when.hour]:
            return when


def rung_gap(rng: random.Random) -> dt.timedelta:
    hours = rng.lognormvariate(math.log(RUNG_GAP_MEDIAN_HOURS), RUNG_GAP_SPREAD)
    return dt.timedelta(hours=min(hours, 24 * 12))


def refund_gap(rng: random.Random, trial_days: int | None) -> dt.timedelta:
    """From the payment to the refund: inside the week of a trial it cancels, else after days
    of use, inside the guarantee."""
    if trial_days:
        return dt.timedelta(days=rng.uniform(0.5, trial_days - 0.5))
    return dt.timedelta(days=rng.uniform(2, 20))


def trial_days(version: FunnelVersion) -> dict[str, int]:
    """By offer step: the days of its trial (the first full payment comes after them)."""
    return {s.key: s.trial.days for s in version.spec.steps if getattr(s, "trial", None)}


def new_times(events: list[tuple], start: dt.datetime, rng: random.Random, trials: dict) -> list:
    """`events`: (id, name, step_key, version_id, occurred_at) in order. Their new times. A
    buyer is sent on the moment they pay (an upsell, a trial's program): no gap comes between
    a payment and the page after it."""
    clock, previous, seen, converted, times = start, events[0][4], set(), set(), []
    sent_on = False  # paid, and the next page is not seen yet
    for _, name, step_key, version_id, occurred_at in events:
        clock += min(occurred_at - previous, MAX_GAP_ON_A_STEP)
        previous = occurred_at
        trial = trials.get(version_id, {}).get(step_key)
        if name == EventName.STEP_VIEWED and step_key not in seen:
            if seen and not sent_on:
                clock += rung_gap(rng)
            seen.add(step_key)
        elif name == EventName.TRIAL_CONVERTED:
            clock += dt.timedelta(days=trial or 7)
            converted.add(step_key)
        elif name in AFTER_THE_DATE:  # the call or the session came days after the booking
            clock += dt.timedelta(days=rng.uniform(1, 6))
        elif name in (EventName.REFUNDED, EventName.TRIAL_CANCELLED):
            clock += refund_gap(rng, None if step_key in converted else trial)
        sent_on = name == EventName.PAID or (sent_on and name != EventName.STEP_VIEWED)
        times.append(clock)
    return times


def spread(visitor_ids: list, days: float, rng: random.Random, now: dt.datetime, tick) -> int:
    """Give the visitors' histories their new times; returns how many visitors moved."""
    trials = {v.pk: trial_days(v) for v in FunnelVersion.objects.all()}
    moved = 0
    for first in range(0, len(visitor_ids), 200):
        chunk = visitor_ids[first : first + 200]
        with transaction.atomic():
            moved += _spread_chunk(chunk, days, rng, now, trials)
        tick(len(chunk))
    return moved


def _spread_chunk(chunk: list, days: float, rng: random.Random, now, trials) -> int:
    rows = Event.objects.filter(visitor_id__in=chunk).order_by("visitor_id", "occurred_at", "id")
    by_visitor = defaultdict(list)
    for vid, *event in rows.values_list(
        "visitor_id", "id", "name", "step_key", "funnel_version_id", "occurred_at"
    ):
        by_visitor[vid].append(tuple(event))
    updates, firsts = [], {}
    for vid, events in by_visitor.items():
        times = new_times(events, weekly_start(rng, days, now), rng, trials)
        late = times[-1] - (now - dt.timedelta(minutes=rng.uniform(1, 90)))
        if late > dt.timedelta(0):  # a history that would end in the future ends just now
            times = [t - late for t in times]
        firsts[vid] = (times[0], times[-1], events, times)
        updates += [(t, t, e[0]) for e, t in zip(events, times, strict=True)]
    _write_times(updates)
    _people(firsts)
    return len(firsts)


def _write_times(updates: list[tuple]) -> None:
    ops, quote = connection.ops, connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Event._meta.db_table)} SET {quote('occurred_at')} = %s, "  # noqa: S608
        f"{quote('received_at')} = %s WHERE {quote('id')} = %s"
    )
    adapt = ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(adapt(a), adapt(b), pk) for a, b, pk in updates])


def _people(firsts: dict) -> None:
    """Visitors, journeys, exposures, leads, consents and the follow-ups they were sent dated
    by the events they made."""
    for vid, (first, last, events, times) in firsts.items():
        Visitor.objects.filter(pk=vid).update(created_at=first, last_seen_at=last)
        Exposure.objects.filter(visitor_id=vid).update(exposed_at=first)
        by_version = defaultdict(list)
        for event, when in zip(events, times, strict=True):
            by_version[event[3]].append((event[1], when))
        for version_id, moments in by_version.items():
            converted = [w for name, w in moments if name == EventName.CONVERTED]
            Journey.objects.filter(visitor_id=vid, version_id=version_id).update(
                started_at=moments[0][1], updated_at=moments[-1][1],
                converted_at=converted[0] if converted else None,
            )  # fmt: skip
        gave = [w for e, w in zip(events, times, strict=True) if e[1] == EventName.FIELDS_GIVEN]
        lead_id = Visitor.objects.filter(pk=vid).values_list("lead_id", flat=True).first()
        if gave and lead_id:
            Lead.objects.filter(pk=lead_id).update(created_at=gave[0])
            Consent.objects.filter(lead_id=lead_id).update(given_at=gave[0])
            _sent_later(lead_id, [e[4] for e in events], times)


def _sent_later(lead_id: int, before: list[dt.datetime], after: list[dt.datetime]) -> None:
    """The lead's follow-ups keep their place in its history: after the last event that came
    before the decision to send them, by the same distance, never after the history ends."""
    for message in Message.objects.filter(lead_id=lead_id, sent_at__isnull=False):
        at = max(bisect_right(before, message.created_at) - 1, 0)
        when = min(after[at] + (message.created_at - before[at]), after[-1])
        seen = {f: when for f in ("opened_at", "clicked_at") if getattr(message, f)}
        Message.objects.filter(pk=message.pk).update(sent_at=when, created_at=when, due_at=when,
                                                     **seen)  # fmt: skip


TRIAL_CANCELS = 0.25  # of the trials started, cancelled by the buyer inside the trial week
NEW_CARDS = 0.5  # of the buyers whose card was declined, who leave a card that pays
NO_SHOWS = 0.2  # of the booked calls, the lead did not come (the host says)
SEAT_NO_SHOWS = 0.35  # of the webinar seats, empty (staff say; the replay is emailed)
REFUNDS = 0.05  # of the other orders paid, asked back inside the guarantee
UNSUBSCRIBES = 0.04  # of the leads
TRIAL_END_DAYS = 8  # past a one-week trial, before the next weekly payment
STEPS_AFTER_THE_WALK = 6


@dataclass(frozen=True)
class Aftermath:
    """What the weeks after the walk brought, counted for the demo's summary."""

    trials: int
    cancelled: int  # trials the buyer cancelled in their first week
    charged: int  # later charges paid (a trial's first full payment converts it)
    declined: int  # later charges the buyer's card declined
    recovered: int  # of those, paid with a new card from the failed-payment email
    attended: int  # booked calls the host marked attended
    no_shows: int  # ... and no-show
    seats_attended: int  # webinar seats staff marked attended
    replays: int  # no-shows of a session with a replay, who were emailed it
    refunded: int  # other orders paid back inside the guarantee
    unsubscribed: int


def after_the_walk(rng: random.Random, tick, cancel_trial=None) -> Aftermath:
    """What the weeks after a walk bring, through the real services: some trial buyers cancel
    in the trial week (`cancel_trial(order)`: the buyer's Cancel link, followed on the served
    pages; by default its service, for a crowd with no server: the later charges stop, the fee
    stays paid), the other trials end and their first full payment is charged (the test
    provider declines it for a `+decline` address, the order retries and half of those buyers
    leave a card that pays), hosts mark the calls attended or no-show, staff mark the webinar
    seats (the no-shows get the replay), a few buyers ask for their money back later, a few
    leads unsubscribe. The follow-ups due by then go out after it (then `read_mail`). Who is
    picked depends on the seed and their email only, not on who else walked: a seeded run
    picks the same ones."""
    seed, now = rng.random(), timezone.now()
    paid = Order.objects.filter(started_at__isnull=False).select_related("lead").order_by("pk")
    trials = paid.filter(pk__in=Charge.objects.filter(after_trial=True).values("order_id"))
    cancel_trial = cancel_trial or (lambda order: _cancel_here(order, now))
    cancelled = sum(cancel_trial(order) for order in trials
                    if picked(f"{seed}:cancel", order.lead.email, TRIAL_CANCELS))  # fmt: skip
    tick()
    later = now + dt.timedelta(days=TRIAL_END_DAYS)
    collected = collect_due(later)
    recovered = sum(
        card_updated(order, "test_pays", later) == "paid"
        for order in paid.filter(state=Order.State.RETRYING)
        if picked(f"{seed}:card", order.lead.email, NEW_CARDS)
    )  # fmt: skip
    tick()
    marked = {Booking.Outcome.ATTENDED: 0, Booking.Outcome.NO_SHOW: 0}
    for booking in Booking.objects.filter(status=Booking.Status.BOOKED).select_related("lead"):
        missed = picked(f"{seed}:no-show", booking.lead.email, NO_SHOWS)
        outcome = Booking.Outcome.NO_SHOW if missed else Booking.Outcome.ATTENDED
        marked[outcome] += mark(booking, outcome, booking.start + dt.timedelta(minutes=10))
    tick()
    seats_attended, replays = _mark_seats(f"{seed}:seat")
    tick()
    others = paid.exclude(state__in=[Order.State.REFUNDED, Order.State.CANCELLED])
    refunded = _refund_some(others, REFUNDS, f"{seed}:refund", now)
    tick()
    unsubscribed = 0
    for lead in Lead.objects.filter(status=Lead.Status.CONFIRMED).order_by("pk"):
        if picked(f"{seed}:unsubscribe", lead.email, UNSUBSCRIBES):
            bounces.suppress(lead.email, Suppression.Reason.UNSUBSCRIBED, "demo")
            unsubscribed += 1
    while wake_due(later):  # the follow-ups whose waits end in those weeks are decided
        pass
    tick()
    return Aftermath(trials.count(), cancelled, collected.paid, collected.failed, recovered,
                     marked[Booking.Outcome.ATTENDED], marked[Booking.Outcome.NO_SHOW],
                     seats_attended, replays, refunded, unsubscribed)  # fmt: skip


def _cancel_here(order: Order, now: dt.datetime) -> bool:
    with contextlib.suppress(CancelRefused):
        cancel(order, now)
        return True
    return False


def _mark_seats(draw: str) -> tuple[int, int]:
    """Staff mark every webinar seat once its session ended; a no-show gets the replay."""
    attended = replays = 0
    seats = Registration.objects.filter(status=Registration.Status.REGISTERED)
    for seat in seats.select_related("lead", "session", "version"):
        missed = picked(draw, seat.lead.email, SEAT_NO_SHOWS)
        outcome = Booking.Outcome.NO_SHOW if missed else Booking.Outcome.ATTENDED
        mark_seat(seat, outcome, seat.session.end + dt.timedelta(minutes=10))
        attended += not missed
        replays += missed and invites.send_replay(None, seat)
    return attended, replays


OPENS = 0.35  # of the follow-ups sent, opened
CLICKS = 0.3  # of those opened, clicked
# A version of an email under test other than the one as written is opened this much more
# often: the demo's email test has a difference to show.
TESTED_LIFT = 1.5


def read_mail(rng: random.Random) -> None:
    """The crowd reads its follow-ups once they are sent: a share opens them, fewer click
    (moments after the send; the spreading of the history dates them again)."""
    seed = rng.random()
    for message in Message.objects.filter(state=Message.State.SENT, lead__isnull=False):
        email = message.version.spec.emails.get(message.template) if message.version else None
        tested = email and email.variants and message.variant != email.variants[0].key
        if picked(f"{seed}:open", message.key, OPENS * (TESTED_LIFT if tested else 1)):
            clicked = message.sent_at if picked(f"{seed}:click", message.key, CLICKS) else None
            Message.objects.filter(pk=message.pk).update(opened_at=message.sent_at,
                                                         clicked_at=clicked)  # fmt: skip


def picked(draw: str, email: str, share: float) -> bool:
    return random.Random(f"{draw}:{email}").random() < share


def _refund_some(orders, share: float, draw: str, now: dt.datetime) -> int:
    done = 0
    for order in orders:
        if picked(draw, order.lead.email, share):
            with contextlib.suppress(RefundRefused):  # an offer without a guarantee
                refund(order, now)
                done += 1
    return done


def count_again(tick) -> int:
    """The funnels' progress and rollups, made again from the rewritten event log."""
    return recount_all(tick=tick)
