"""Keeps each person's Progress current as events arrive, so reports read one row per journey.

A reactor of the event log (registered in analytics.apps): `on_events` runs inside the writer's
transaction for every new event (reactions.RECORDED), `on_stitched` when a visitor's history
joins a lead, `recount_visitor` when a history is rewritten. A batch
is handled per person and version: new hits are added to the stored climb in place when they
come in order (the common case: one more step, just now); anything else (a hit older than the
last one counted, an optional step or exclusion, a history merged by stitching) recounts that
person from the event log. Bots never get a row.
"""

import datetime as dt
from collections import defaultdict
from functools import lru_cache

from django.db import IntegrityError, connection, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from yesladder.analytics import rollups
from yesladder.analytics.climb import Climb, Hit, climb, within
from yesladder.analytics.devices import device_type
from yesladder.analytics.footprint import add, difference, footprint, standing
from yesladder.analytics.models import DayMark, DayMove, DayTally, Progress
from yesladder.analytics.rules import (
    Ladder,
    flags,
    from_micros,
    lead_of,
    micros,
    person,
    tier,
)
from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event

RECOUNT_CHUNK = 5_000
FIELDS = ["level", "entered_at", "gaps", "viewed", "clicked", "optional", "opted_in",
          "engaged", "excluded", "revenue", "last_source", "last_medium", "last_campaign",
          "tier", "state", "updated_at"]  # fmt: skip
# In Progress.state beside the climb: [µs, event id] of the result the row's tier came from,
# so a result that arrives late never replaces a later one (both engines take the latest).
TIER_MARK = "tier_at"


@lru_cache(maxsize=256)
def ladder(version_id: int) -> Ladder:
    """Versions never change once stored, so neither does their ladder."""
    version = FunnelVersion.objects.get(pk=version_id)
    return Ladder.of(version.pk, version.funnel_id, version.spec)


@receiver(post_save, sender=FunnelVersion)
@receiver(post_delete, sender=FunnelVersion)
def _forget_ladders(**kwargs) -> None:
    # Ids come back after a rollback (tests, a failed load): a cached ladder must not outlive
    # the row it was read from.
    ladder.cache_clear()


def person_of(event: Event) -> str:
    return person(event.lead_id, event.visitor_id.hex)


# --- the batch path --------------------------------------------------------------------------


def on_events(events: list[Event]) -> None:
    """Count new events into their people's progress (inside the caller's transaction)."""
    groups: dict[tuple[int, str], list[Event]] = defaultdict(list)
    for event in events:
        if event.funnel_version_id and not event.is_bot:
            groups[(event.funnel_version_id, person_of(event))].append(event)
    if not groups:
        return
    try:
        with transaction.atomic():
            _count(groups)
    except IntegrityError:  # another writer made one of these rows first: one by one
        for key, group in groups.items():
            with transaction.atomic():
                _count({key: group})


def _count(groups: dict[tuple[int, str], list[Event]]) -> None:
    found = {(p.version_id, p.person): p for p in _locked(groups)}
    fresh, changed, change, moves = [], [], {}, []
    touches = _first_touches([k for k in groups if k not in found], groups)
    for key, group in groups.items():
        row = found.get(key)
        if row is None:
            row = _new_row(ladder(key[0]), key[1], group[0], touches.get(key))
            fresh.append(row)
        else:
            changed.append(row)
        before = footprint(row)
        was = standing(row) if row.pk else None
        _apply(ladder(key[0]), row, group)
        add(change, difference(before, footprint(row)))
        moves.append((was, standing(row)))
    Progress.objects.bulk_create(sorted(fresh, key=lambda row: (row.version_id, row.person)))
    _update(changed)
    rollups.apply(change)
    rollups.rows_moved(moves)


def _locked(groups) -> list[Progress]:
    """The people's rows, locked in one order by every writer (or two batches that share people
    deadlock). A plain statement: building it through the ORM cost more than the rest of
    counting a step action."""
    versions, people = sorted({v for v, _ in groups}), sorted({p for _, p in groups})
    quote = connection.ops.quote_name
    sql = (
        f"SELECT * FROM {quote(Progress._meta.db_table)} "  # noqa: S608 (names and placeholders)
        f"WHERE {quote('version_id')} IN ({', '.join(['%s'] * len(versions))}) "
        f"AND {quote('person')} IN ({', '.join(['%s'] * len(people))}) "
        f"ORDER BY {quote('version_id')}, {quote('person')}"
        + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    )
    return list(Progress.objects.raw(sql, [*versions, *people]))


def _update(rows: list[Progress]) -> None:
    """One statement run for every row (Django's bulk_update builds a CASE per field and row,
    which cost more than everything else here)."""
    if not rows:
        return
    ops, quote = connection.ops, connection.ops.quote_name
    now = ops.adapt_datetimefield_value(timezone.now())
    sql = (
        f"UPDATE {quote(Progress._meta.db_table)} SET "  # noqa: S608 (names, not values)
        + ", ".join(f"{quote(name)} = %s" for name in FIELDS)
        + f" WHERE {quote('id')} = %s"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*_values(row, ops), now, row.pk) for row in rows])


def _values(row: Progress, ops) -> tuple:
    return (
        row.level, ops.adapt_datetimefield_value(row.entered_at),
        ops.adapt_json_value(row.gaps, None), row.viewed, row.clicked, row.optional,
        row.opted_in, row.engaged, row.excluded, row.revenue, row.last_source, row.last_medium,
        row.last_campaign, row.tier, ops.adapt_json_value(row.state, None),
    )  # fmt: skip


def _apply(rungs: Ladder, row, events: list[Event]) -> None:
    hits = sorted(((Hit(micros(e.occurred_at), r), e) for e in events
                   if (r := rungs.rung(e)) is not None), key=lambda pair: pair[0])  # fmt: skip
    state = Climb.from_state(len(rungs.rungs), rungs.window, row.state)
    in_order = not hits or state.accepts(hits[0][0])
    if not in_order or any(rungs.needs_recount(e) for e in events):
        recount(row, rungs)
        return
    start = state.best[:1]
    for hit, event in hits:
        if state.add(hit):
            _touch_last(row, event)
    if state.best[:1] != start and (rungs.optional or rungs.exclusions):
        recount(row, rungs)  # a new chain counts: its window decides the rest again
        return
    _keep(row, state)
    for event in events:
        _flags(row, rungs, event)


def _keep(row, state: Climb) -> None:
    mark = (row.state or {}).get(TIER_MARK)
    row.state = {**state.to_state(), **({TIER_MARK: mark} if mark else {})}
    row.level = state.level
    row.entered_at = from_micros(state.best[0]) if state.best else None
    row.gaps = [round(gap / 1_000_000) for gap in state.gaps()]


def _flags(row, rungs: Ladder, event: Event) -> None:
    rung = rungs.rung(event)
    if rung is not None:
        row.viewed |= 1 << rung
    if event.name == EventName.CTA_CLICKED and (step := rungs.position(event)) is not None:
        row.clicked |= 1 << step
    opted_in, engaged, money = flags(event.name, event.properties)
    row.opted_in = row.opted_in or bool(opted_in)
    row.engaged = row.engaged or bool(engaged)
    row.revenue += money
    _tier(row, event)


def _tier(row, event: Event) -> None:
    given = tier(event.name, event.properties)
    if given is None:
        return
    at = [micros(event.occurred_at), event.pk or 0]
    if at >= row.state.get(TIER_MARK, [0, 0]):
        row.tier, row.state = given, {**row.state, TIER_MARK: at}


# --- recounting one person -------------------------------------------------------------------


def recount(row, rungs: Ladder) -> None:
    """The person's whole history in this version, counted again from the event log."""
    events = list(_history(row))
    hits = [(Hit(micros(e.occurred_at), r), e) for e in events
            if (r := rungs.rung(e)) is not None]  # fmt: skip
    state = climb([hit for hit, _ in hits], len(rungs.rungs), rungs.window)
    _keep(row, state)
    row.viewed = row.clicked = row.optional = row.revenue = 0
    row.opted_in = row.engaged = row.excluded = False
    row.tier = ""
    row.state.pop(TIER_MARK, None)
    for event in events:
        _flags(row, rungs, event)
    if state.best:
        last = next(
            e for hit, e in hits if hit.at == state.best[-1] and hit.rung == state.level - 1
        )
        _touch_last(row, last)
        _window_flags(row, rungs, state, events)


def _window_flags(row, rungs: Ladder, state: Climb, events: list[Event]) -> None:
    start = state.best[0]
    for bit, key in enumerate(rungs.optional):
        times = (micros(e.occurred_at) for e in events if e.step_key == key)
        if within(start, rungs.window, times):
            row.optional |= 1 << bit
    excluded = (micros(e.occurred_at) for e in events if rungs.excludes(e))
    row.excluded = within(start, rungs.window, excluded)


def _history(row):
    mine = Event.objects.filter(funnel_version_id=row.version_id, is_bot=False)
    if (lead_id := lead_of(row.person)) is not None:
        mine = mine.filter(lead_id=lead_id)
    else:
        mine = mine.filter(visitor_id=row.person[1:], lead__isnull=True)
    return mine.select_related("visitor").order_by("occurred_at", "id")


def restitch(visitor: Visitor) -> None:
    """A visitor's anonymous history joined its lead: its rows fold into the lead's."""
    if visitor.lead_id is None:
        return
    key = person(visitor.lead_id, visitor.pk.hex)
    with transaction.atomic():
        gone = Progress.objects.filter(person=person(None, visitor.pk.hex))
        versions = set(gone.values_list("version_id", flat=True))
        gone.delete()
        # The lead's other rows too: a device first seen earlier is everywhere its first touch.
        versions |= set(Progress.objects.filter(person=key).values_list("version_id", flat=True))
        first = _earliest_visitors({visitor.lead_id}).get(visitor.lead_id) if versions else None
        for version_id in versions:
            rows = Progress.objects.select_for_update()
            row = rows.filter(version_id=version_id, person=key).first() or _new_row(
                ladder(version_id), key, None, first
            )
            _recount_and_save(row, first)


def on_stitched(visitor: Visitor, events: list[Event], **_) -> None:
    """Reactor (reactions.STITCHED): the visitor's rows fold into its lead's."""
    restitch(visitor)


def recount_visitor(visitor: Visitor) -> None:
    """Count the visitor's person again (its history was rewritten: `simulate` moves a crowd
    back in time)."""
    key = person(visitor.lead_id, visitor.pk.hex)
    # The first visit moved too: the first touch (cohort) is read again, from the rows as
    # they are now (the caller's visitor still has its old times).
    if visitor.lead_id:
        first = _earliest_visitors({visitor.lead_id}).get(visitor.lead_id)
    else:
        first = Visitor.objects.get(pk=visitor.pk)
    for row in Progress.objects.select_for_update().filter(person=key):
        _recount_and_save(row, first)


def _recount_and_save(row, first: Visitor | None = None) -> None:
    before = footprint(row)  # a row not stored yet is on no rung: it counts nowhere
    was = standing(row) if row.pk else None
    if first is not None:
        _first_touch(row, first)
    recount(row, ladder(row.version_id))
    row.save()
    rollups.apply(difference(before, footprint(row)))
    rollups.rows_moved([(was, standing(row))])


def recount_all(funnel_key: str | None = None, tick=lambda done, total: None) -> int:
    """Every row made again from the event log, in time order (so each person's events go in
    place), a chunk per transaction."""
    events = Event.objects.filter(funnel_version__isnull=False, is_bot=False)
    mine = {"funnel__key": funnel_key} if funnel_key else {}
    if funnel_key:
        events = events.filter(funnel_version__funnel__key=funnel_key)
    total, done = events.count(), 0
    with transaction.atomic():  # rows and rollups go in bulk: they are about to be made again
        for model in (DayTally, DayMark, DayMove):
            model.objects.filter(**mine).delete()
        rows = Progress.objects.filter(**mine)
        rows._raw_delete(rows.db)  # no per-row signal: the rollups are already gone
        rollups.rows_recounted(funnel_key)
    ordered = events.select_related("visitor").order_by("occurred_at", "id")
    chunk: list[Event] = []
    for event in ordered.iterator(chunk_size=RECOUNT_CHUNK):
        chunk.append(event)
        if len(chunk) == RECOUNT_CHUNK:
            done += _count_chunk(chunk)
            tick(done, total)
    done += _count_chunk(chunk)
    tick(done, total)
    return done


def _count_chunk(chunk: list[Event]) -> int:
    with transaction.atomic():
        on_events(chunk)
    counted = len(chunk)
    chunk.clear()
    return counted


# --- where people came from ------------------------------------------------------------------


def _new_row(rungs: Ladder, key: str, event: Event | None, first: Visitor | None):
    row = Progress(funnel_id=rungs.funnel_id, version_id=rungs.version_id, person=key)
    row.lead_id = lead_of(key)
    first = first or (event.visitor if event is not None else None)
    if first is not None:
        _first_touch(row, first)
        row.last_source, row.last_medium, row.last_campaign = _touch(first)
    return row


def _first_touch(row, first: Visitor) -> None:
    row.visitor_id = first.pk
    row.source, row.medium, row.campaign = _touch(first)
    row.device = device_type(first.user_agent)
    created = first.created_at
    row.cohort = (created - dt.timedelta(days=created.weekday())).date()


def _touch(visitor: Visitor) -> tuple[str, str, str]:
    return visitor.utm_source, visitor.utm_medium, visitor.utm_campaign


def _touch_last(row, event: Event) -> None:
    row.last_source, row.last_medium, row.last_campaign = _touch(event.visitor)


def _first_touches(keys, groups) -> dict[tuple[int, str], Visitor]:
    """Each new person's first device: a lead's earliest visitor, else the event's own."""
    leads = {key: lead_of(key[1]) for key in keys}
    earliest = _earliest_visitors({lead for lead in leads.values() if lead is not None})
    return {
        key: earliest.get(lead) if lead is not None else groups[key][0].visitor
        for key, lead in leads.items()
    }


def _earliest_visitors(lead_ids: set[int]) -> dict[int, Visitor]:
    earliest: dict[int, Visitor] = {}
    if not lead_ids:  # most new rows are anonymous visitors: no query to build
        return earliest
    for visitor in Visitor.objects.filter(lead_id__in=lead_ids).order_by("-created_at"):
        earliest[visitor.lead_id] = visitor  # the last one written is the earliest
    return earliest
