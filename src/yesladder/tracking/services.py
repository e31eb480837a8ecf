"""The event log's own module: every event enters the log through it.

`record` writes one event (pages, payments, bookings); the tracking API's bulk path inserts its
rows itself for speed and hands them to `written` and `settled`, exactly as `record` does. The
parts that react (progress and rollups, automation, ...) are reached only through
`yesladder.reactions`: this module does not know them.
"""

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from yesladder.events import EventName
from yesladder.funnels import scoring
from yesladder.funnels.models import FunnelVersion, UnknownFunnel, current_version
from yesladder.funnels.spec.schema import Quiz
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.reactions import RECORDED, REWRITTEN, SETTLED, announce
from yesladder.tracking.models import Event, Journey

MAX_PROPERTY_TEXT = 500


def record(
    name: EventName,
    visitor: Visitor,
    version: FunnelVersion | None = None,
    step_key: str = "",
    properties: dict | None = None,
    occurred_at=None,
    message_id: str | None = None,
    site=None,
) -> Event:
    event = Event(
        **({"message_id": message_id} if message_id else {}),
        name=EventName(name).value,
        visitor=visitor,
        lead_id=visitor.lead_id,
        funnel_version=version,
        step_key=step_key,
        properties=bounded(properties or {}),
        occurred_at=occurred_at or timezone.now(),
        is_bot=visitor.is_bot,
        site=site,
    )
    block = _open_block()
    if block is not None:  # one insert: what is decided from it comes at the block's end
        event.save(force_insert=True)
        block.hold([event])
        return event
    with transaction.atomic():  # the event and what is decided from it, or neither
        event.save(force_insert=True)
        written([event])
        settled([event])
    return event


def written(events: list[Event]) -> None:
    """New events are in the log, as written: the in-transaction reactors count them (progress
    and rollups) in the writer's transaction."""
    if events:
        announce(RECORDED, events=events)


def settled(events: list[Event]) -> None:
    """New events once the writer's identify and stitching are done: those that belong to a lead
    go to the reactors that act on leads (automation). Anonymous ones carry no lead to act on."""
    known = [event for event in events if event.lead_id is not None]
    if known:
        announce(SETTLED, events=known)


class _Block:
    """The events of one `reacting_together` block: `unheard` are written but not announced
    yet; `unsettled` were announced as written and wait for the block's end to be settled."""

    def __init__(self):
        self.depth = _depth()
        self.deeper = False  # an event written inside a savepoint of the block
        self.unheard: list[Event] = []
        self.unsettled: list[Event] = []
        self.heard_marks: list = []

    def hold(self, events: list[Event]) -> None:
        self.unheard += events
        self.deeper = self.deeper or _depth() > self.depth

    def hear_written(self) -> None:
        """RECORDED for the events written so far. Heard inside a savepoint that is later rolled
        back (a stitch that failed and was caught), they are heard again at the block's end."""
        fresh = self._hear()
        if fresh and _depth() > self.depth:  # whether the events stay is `hold`'s to say
            self.heard_marks.append((_mark_heard(), fresh))

    def end(self) -> None:
        for mark, events in self.heard_marks:
            if not _mark_kept(mark):  # the reactions went with a rolled-back savepoint
                self.unsettled = [e for e in self.unsettled if e not in events]
                self.unheard = events + self.unheard
        self._hear()  # what was heard is in the log: a savepoint that took it took its mark
        settled(sorted(self.unsettled, key=lambda e: (e.occurred_at, e.pk)))

    def _hear(self) -> list[Event]:
        fresh, self.unheard = self._kept(self.unheard), []
        written(fresh)
        self.unsettled += fresh
        return fresh

    def _kept(self, events: list[Event]) -> list[Event]:
        return _still_logged(events) if self.deeper and events else events


_holding = threading.local()


def _open_block() -> _Block | None:
    return getattr(_holding, "block", None)


def _depth() -> int:
    """The transaction and savepoints open now: an event written deeper than its block began
    can be rolled back (a failed part of the request, caught) while the block goes on."""
    connection = transaction.get_connection()
    return connection.in_atomic_block + len(connection.savepoint_ids)


def _mark_heard():
    """A do-nothing on_commit hook: Django drops the hooks registered inside a savepoint that
    is rolled back, so whether it is still waiting says whether that savepoint was kept."""

    def mark() -> None:
        pass

    transaction.on_commit(mark)
    return mark


def _mark_kept(mark) -> bool:
    return any(func is mark for _, func, _ in transaction.get_connection().run_on_commit)


@contextmanager
def reacting_together() -> Iterator[None]:
    """Every writer's one way in to the reactors. Events recorded in this block are written at
    once, as ever (later reads in the block see them); the parts that react hear each of them
    once, in the same transaction and the same order whatever the writer: RECORDED (as
    written), then STITCHED if a stitch comes (it first has the events written so far heard),
    then SETTLED at the block's end (with the leads the stitches gave them). A page's request
    records up to four events: each had recomputed the lead's standing on its own. Events
    rolled back inside the block are not heard."""
    if _open_block() is not None:  # already inside a block: its end reacts
        yield
        return
    block = _holding.block = _Block()
    try:
        yield
    finally:
        _holding.block = None
    if block.unheard or block.unsettled:
        with transaction.atomic():
            block.end()


def join_block(events: list[Event]) -> None:
    """Events a writer inserted itself (the tracking API's bulk INSERT, built from its rows
    rather than read back) join the open block, as `record`'s do."""
    _open_block().hold(events)


def hear_before_stitching() -> set[int]:
    """A stitch is about to give a visitor's anonymous events their lead: the block's events
    written so far are heard first, as they were written. Returns the ids of those still to be
    settled at the block's end, which the stitch does not hand on itself (heard once)."""
    block = _open_block()
    if block is None:
        return set()
    block.hear_written()
    return {event.pk for event in block.unsettled}


def _still_logged(events: list[Event]) -> list[Event]:
    """The held events a rolled-back savepoint did not take out of the log, known by their
    unique message id (SQLite gives a rolled-back row's id to the next insert). One indexed
    read in plain SQL (~25 us on SQLite, a tenth of the ORM's), and only for a block that wrote
    events inside a savepoint of its own."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote('message_id')} FROM {quote(Event._meta.db_table)} "  # noqa: S608
        f"WHERE {quote('message_id')} IN ({', '.join(['%s'] * len(events))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [event.message_id for event in events])
        there = {row[0] for row in cursor.fetchall()}
    return [event for event in events if event.message_id in there]


def stitched_while_held(visitor_id, lead_id: int) -> None:
    """Stitching gave the visitor's anonymous events in the log their lead; the block's copies
    waiting to be settled get it too."""
    block = _open_block()
    for event in block.unsettled if block is not None else ():
        if event.visitor_id == visitor_id and event.lead_id is None:
            event.lead_id = lead_id


def bounded(properties: dict) -> dict:
    """Visitor-supplied values are cut to a sane size before they are stored."""
    return {
        str(k)[:64]: v[:MAX_PROPERTY_TEXT] if isinstance(v, str) else v
        for k, v in list(properties.items())[:50]
    }


def move_back_in_time(visitor_id, by: dt.timedelta) -> bool:
    """Shift one synthetic visitor's whole history `by` into the past: its events, journeys,
    and the lead and consents it created. Only `yesladder simulate` calls this, to spread
    a crowd that walked the pages in minutes over the days a real one would take.
    Returns False when this database does not know the visitor (another server's)."""
    visitor = Visitor.objects.filter(pk=visitor_id).first()
    if visitor is None:
        return False
    since = visitor.created_at
    with transaction.atomic():
        Visitor.objects.filter(pk=visitor.pk).update(
            created_at=F("created_at") - by, last_seen_at=F("last_seen_at") - by
        )
        Event.objects.filter(visitor=visitor).update(
            occurred_at=F("occurred_at") - by, received_at=F("received_at") - by
        )
        for column in ("started_at", "updated_at", "converted_at"):
            Journey.objects.filter(visitor=visitor, **{f"{column}__isnull": False}).update(
                **{column: F(column) - by}
            )
        if visitor.lead_id:
            created_here = Lead.objects.filter(pk=visitor.lead_id, created_at__gte=since)
            created_here.update(created_at=F("created_at") - by)
            consents = Consent.objects.filter(lead_id=visitor.lead_id, given_at__gte=since)
            consents.update(given_at=F("given_at") - by)
        announce(REWRITTEN, visitor=visitor)
    return True


def quiz_results(lead: Lead) -> list[dict]:
    """The lead's latest score on each scored quiz (funnel and step), oldest quiz first: what
    the CRM, emails and the lead's page know of their assessments. Read from the log, where
    every device's `quiz_completed` is stitched to the lead; never stored twice."""
    return results_of([lead.pk]).get(lead.pk, [])


def readings(results: list[dict]) -> list[scoring.Reading]:
    """Results in the words of their quizzes as the funnels stand now."""
    return [scoring.reading(_quiz(r["funnel"], r["step"]), r) for r in results]


def latest_reading(lead: Lead, funnel_key: str) -> scoring.Reading | None:
    """The lead's latest scored result in this funnel (what the host reads before the call)."""
    mine = [r for r in quiz_results(lead) if r["funnel"] == funnel_key]
    return readings([max(mine, key=lambda r: r["at"])])[0] if mine else None


def _quiz(funnel_key: str, step_key: str) -> Quiz | None:
    try:
        step = current_version(funnel_key).spec.step(step_key)
    except UnknownFunnel:
        return None
    return step if isinstance(step, Quiz) else None


def results_of(lead_ids: list[int]) -> dict[int, list[dict]]:
    """`quiz_results` of many leads in one query (a page of the leads list)."""
    latest: dict[int, dict[tuple[str, str], dict]] = {}
    completed = (
        Event.objects.filter(lead_id__in=lead_ids, name=EventName.QUIZ_COMPLETED,
                             properties__has_key="score")
        .order_by("occurred_at", "id")
        .values_list("lead_id", "funnel_version__funnel__key", "step_key", "properties",
                     "occurred_at")
    )  # fmt: skip
    for lead_id, funnel, step, properties, at in completed:
        latest.setdefault(lead_id, {})[(funnel or "", step)] = {
            "funnel": funnel or "", "step": step, "score": properties.get("score"),
            "tier": properties.get("tier", ""), "categories": properties.get("categories", {}),
            "at": at.isoformat(),
        }  # fmt: skip
    return {lead_id: list(found.values()) for lead_id, found in latest.items()}
