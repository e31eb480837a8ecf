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
from yesladder.funnels.models import FunnelVersion
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
    if _holding_events():  # one insert: what is decided from it comes at the block's end
        event.save(force_insert=True)
        _hold(event)
        return event
    with transaction.atomic():  # the event and what is decided from it, or neither
        event.save(force_insert=True)
        written([event])
        settled([event])
    return event


def written(events: list[Event]) -> None:
    """New events are in the log, as written: the in-transaction reactors count them (progress
    and rollups) in the writer's transaction. Every path that writes events calls this."""
    if events:
        announce(RECORDED, events=events)


def settled(events: list[Event]) -> None:
    """New events once the writer's identify and stitching are done: those that belong to a lead
    go to the reactors that act on leads (automation). Anonymous ones carry no lead to act on."""
    known = [event for event in events if event.lead_id is not None]
    if known:
        announce(SETTLED, events=known)


_holding = threading.local()


def _holding_events() -> bool:
    """Inside `reacting_together`, the parts that react get the event when the block ends."""
    return getattr(_holding, "events", None) is not None


def _hold(event: Event) -> None:
    """An event written (never one whose insert failed) waits for the block's end."""
    _holding.events.append(event)
    _holding.deeper = _holding.deeper or _depth() > _holding.depth


def _depth() -> int:
    """The transaction and savepoints open now: an event written deeper than its block began
    can be rolled back (a failed part of the request, caught) while the block goes on."""
    connection = transaction.get_connection()
    return connection.in_atomic_block + len(connection.savepoint_ids)


@contextmanager
def reacting_together() -> Iterator[None]:
    """Events recorded in this block are written at once, as ever (later reads in the block
    see them); the parts that react get all of them once, when the block ends, in the same
    transaction, as `written` then `settled`. A page's request records up to four events:
    each had recomputed the lead's standing on its own. Events rolled back inside the block
    are not heard."""
    if getattr(_holding, "events", None) is not None:  # already inside a block: its end reacts
        yield
        return
    _holding.events, _holding.depth, _holding.deeper = [], _depth(), False
    held = _holding.events
    try:
        yield
    finally:
        _holding.events = None
    if held:
        with transaction.atomic():
            kept = _still_logged(held) if _holding.deeper else held
            written(kept)
            settled(kept)


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
    """Stitching gave the visitor's anonymous events in the log their lead; the copies held by
    `reacting_together` get it too, so progress counts them as the lead's (stitching has already
    folded the anonymous visitor's rows away)."""
    for event in getattr(_holding, "events", None) or ():
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
