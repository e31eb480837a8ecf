"""A synthetic crowd's history, made to look like the traffic of real weeks.

The crowd walks the real pages within a minute; people take hours to days from one rung to
the next, come on weekdays more than at weekends and by day more than at night, and wait out a
trial before its first full payment. Each walked visitor gets a start time drawn from that
weekly rhythm, and its events keep their order and the seconds between them on one step, with
a gap of hours to days put before each new rung (the trial's days before the payment that
ends it). Then the funnels' counts are made again from the rewritten event log.
"""

import contextlib
import datetime as dt
import math
import random
from collections import defaultdict

from django.db import connection, transaction
from django.utils import timezone

from yesladder.analytics.progress import recount_all
from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.tracking.models import Event, Journey

# Relative traffic by weekday (Monday first) and by hour of the day (UTC).
WEEKDAYS = (1.0, 1.0, 0.95, 0.95, 0.85, 0.5, 0.45)
HOURS = (0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.45, 0.7, 0.9, 1.0, 1.0, 0.95,
         0.9, 0.95, 1.0, 0.95, 0.9, 0.8, 0.75, 0.8, 0.85, 0.7, 0.45, 0.25)  # fmt: skip
RUNG_GAP_MEDIAN_HOURS = 5.0  # half of those who go on take the next rung within ~5 hours
RUNG_GAP_SPREAD = 1.4  # lognormal sigma: minutes for some, several days for others
MAX_GAP_ON_A_STEP = dt.timedelta(minutes=3)  # between two actions on one page
LATE = (EventName.REFUNDED,)  # after days of use, inside the guarantee


def weekly_start(rng: random.Random, days: float, now: dt.datetime) -> dt.datetime:
    """A time in the last `days`, weighted by the weekly rhythm (rejection sampling)."""
    while True:
        when = now - dt.timedelta(seconds=rng.uniform(0, days * 86_400))
        if rng.random() < WEEKDAYS[when.weekday()] * HOURS[when.hour]:
            return when


def rung_gap(rng: random.Random) -> dt.timedelta:
    hours = rng.lognormvariate(math.log(RUNG_GAP_MEDIAN_HOURS), RUNG_GAP_SPREAD)
    return dt.timedelta(hours=min(hours, 24 * 12))


def trial_days(version: FunnelVersion) -> dict[str, int]:
    """By offer step: the days of its trial (the first full payment comes after them)."""
    return {s.key: s.trial.days for s in version.spec.steps if getattr(s, "trial", None)}


def new_times(events: list[tuple], start: dt.datetime, rng: random.Random, trials: dict) -> list:
    """`events`: (id, name, step_key, version_id, occurred_at) in order. Their new times."""
    clock, previous, seen, times = start, events[0][4], set(), []
    for _, name, step_key, version_id, occurred_at in events:
        clock += min(occurred_at - previous, MAX_GAP_ON_A_STEP)
        previous = occurred_at
        if name == EventName.STEP_VIEWED and step_key not in seen:
            if seen:
                clock += rung_gap(rng)
            seen.add(step_key)
        elif name == EventName.TRIAL_CONVERTED:
            clock += dt.timedelta(days=trials.get(version_id, {}).get(step_key, 7))
        elif name in LATE:
            clock += dt.timedelta(days=rng.uniform(2, 20))
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
    """Visitors, journeys, leads and consents dated by the events they made."""
    for vid, (first, last, events, times) in firsts.items():
        Visitor.objects.filter(pk=vid).update(created_at=first, last_seen_at=last)
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


REFUNDS = 0.05  # of the orders paid, asked back inside the guarantee
UNSUBSCRIBES = 0.04  # of the leads


def after_the_walk(rng: random.Random, tick) -> None:
    """What the weeks after a walk bring: trials end and their first full payment is charged
    (so a checkout that counts when the trial converts has buyers), a few buyers ask for their
    money back, a few leads unsubscribe."""
    from yesladder.automation import bounces
    from yesladder.automation.models import Suppression
    from yesladder.offers.models import Order
    from yesladder.offers.services import RefundRefused, collect_due, refund

    collect_due(timezone.now() + dt.timedelta(days=TRIAL_END_DAYS))
    tick()
    for order in Order.objects.filter(started_at__isnull=False).order_by("pk"):
        if rng.random() < REFUNDS:
            with contextlib.suppress(RefundRefused):
                refund(order)
    tick()
    for lead in Lead.objects.filter(status=Lead.Status.CONFIRMED).order_by("pk"):
        if rng.random() < UNSUBSCRIBES:
            bounces.suppress(lead.email, Suppression.Reason.UNSUBSCRIBED, "demo")
    tick()


TRIAL_END_DAYS = 8  # past a one-week trial, before the next weekly payment


def count_again(tick) -> int:
    """The funnels' progress and rollups, made again from the rewritten event log."""
    return recount_all(tick=tick)
