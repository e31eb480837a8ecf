"""The tracking API's write path: the rows of a request (tracking.rows) go into the one event
log, and the first-time ones have their effects.

Everything a request carries is written in one transaction that commits before the API answers,
so a 200 means durable. Plain events (the bulk) go in as one multi-row INSERT .. ON CONFLICT DO
NOTHING RETURNING: the unique message id absorbs retries, and only messages stored for the first
time have side effects (a journey moves on, a lead is identified), so replays change nothing.
"""

import uuid
from functools import lru_cache, partial

from django.db import connection
from django.db.models import Q
from django.db.models.base import ModelState

from yesladder.database import write_together
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.spec.schema import StepBase
from yesladder.leads.models import Lead, Visitor
from yesladder.leads.services import ConsentGiven, consent_given, fill_profile
from yesladder.tracking.identity import identify, stitch
from yesladder.tracking.journeys import finish, starting_version
from yesladder.tracking.models import Event, Journey, Site
from yesladder.tracking.rows import (
    CHUNK,
    STORED_COLUMNS,
    JourneyRef,
    Received,
    Row,
    device_user_agent,
    is_bot_message,
    page_context,
    touch_fields,
)
from yesladder.tracking.segment import Message
from yesladder.tracking.services import join_block, reacting_together


def store(received: Received, rows: list[Row]) -> int:
    """Write the rows in one transaction, committed when this returns (on SQLite, together with
    other requests of this process waiting to write); returns how many were new (not replays)."""
    if not rows:
        return 0
    return write_together(partial(_store, received, rows))


def _store(received: Received, rows: list[Row]) -> int:
    with reacting_together():  # the reactors hear the batch as they hear a page's events
        visitors = _visitors(received, rows)
        _journeys([row for row in rows if row.funnel], visitors)
        new = _insert(received, rows, visitors)
        fresh = _first_of_each(rows, new)
        events = _new_events(received, fresh, visitors, new)
        join_block(events)
        users = {(r.message.visitor_key, r.message.userId): None for r in fresh
                 if r.message.userId and r.message.type != "alias"}  # fmt: skip
        for visitor_key, user_id in users:  # once per visitor and user id, not per message
            _link_user(visitors[visitor_key], user_id)
        for row, event in zip(fresh, events, strict=True):
            _apply(received, row, visitors[row.message.visitor_key], event)
    return len(new)


def _first_of_each(rows: list[Row], new: dict[str, int]) -> list[Row]:
    """The rows stored for the first time; a message id repeated within the request counts once,
    as the first of them (the one the INSERT kept)."""
    fresh, seen = [], set()
    for row in rows:
        if row.message_id in new and row.message_id not in seen:
            seen.add(row.message_id)
            fresh.append(row)
    return fresh


def _new_events(
    received: Received, rows: list[Row], visitors: dict[str, Visitor], ids: dict[str, int]
) -> list[Event]:
    """The events just inserted, as the log now holds them, made here rather than read back.
    A step action's visitor is loaded whole (its first touch starts a person's progress); the
    others keep the visitor as the batch loaded it."""
    steps = {visitors[row.message.visitor_key].pk for row in rows if row.journey is not None}
    whole = Visitor.objects.in_bulk(steps) if steps else {}
    return [_event(received, row, visitors[row.message.visitor_key], whole, ids) for row in rows]


def _event(received: Received, row: Row, visitor: Visitor, whole: dict, ids: dict) -> Event:
    """The row as an Event, built without Model.__init__: a batch makes one per message for the
    reactors (never to save it), and __init__ cost ~15 µs each, a tenth of what a batched event
    costs to take in; filling the instance's fields directly costs well under 1 µs."""
    event = Event.__new__(Event)
    event.__dict__.update(
        id=ids[row.message_id], message_id=row.message_id, name=row.name, label=row.label,
        site_id=received.site.pk, visitor_id=visitor.pk, lead_id=visitor.lead_id,
        funnel_version_id=row.journey.version_id if row.journey else None,
        step_key=row.step_key, properties=row.properties, occurred_at=row.occurred_at,
        received_at=received.at, is_bot=visitor.is_bot or row.bot, future_timestamp=row.future,
    )  # fmt: skip
    event._state = ModelState()
    event._state.adding, event._state.db = False, connection.alias  # as if read from the log
    event._state.fields_cache.update(site=received.site, visitor=whole.get(visitor.pk, visitor))
    return event


def _visitors(received: Received, rows: list[Row]) -> dict[str, Visitor]:
    """Each message's visitor within the site, made on first sight with its first touch."""
    first_seen: dict[str, Message] = {}
    for row in rows:
        first_seen.setdefault(row.message.visitor_key, row.message)
    found = _load_visitors(received.site, first_seen)
    missing = sorted(key for key in first_seen if key not in found)  # in one order: no deadlock
    if missing:
        Visitor.objects.bulk_create(
            [_new_visitor(received, key, first_seen[key]) for key in missing],
            ignore_conflicts=True,  # another request may make the same visitor at once
        )
        found |= _load_visitors(received.site, missing)
    return found


# In the model's own field order, as Model.from_db expects them.
VISITOR_FIELDS = tuple(
    f
    for f in Visitor._meta.concrete_fields
    if f.attname in {"id", "lead_id", "is_bot", "user_id", "anonymous_id", "landing_url", "site_id"}
)
VISITOR_COLUMNS = tuple(f.attname for f in VISITOR_FIELDS)


def _load_visitors(site: Site, keys) -> dict[str, Visitor]:
    """One plain SELECT per chunk of keys. On PostgreSQL the rows are locked FOR KEY SHARE (the
    lock the events' foreign key takes anyway, taken before their lead is read): a stitch of
    one of these visitors (tracking.identity, FOR UPDATE) then either waits for this batch to
    commit and stitches its events too, or commits first and this SELECT, having waited, reads
    the visitor's new lead. Without it an event written at the same moment as its visitor's
    identify could stay anonymous. SQLite takes one writer at a time: no such race."""
    keys, visitors = list(keys), {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        with connection.cursor() as cursor:
            sql = _select_sql(connection.vendor, Visitor._meta.db_table,
                              tuple(f.column for f in VISITOR_FIELDS), "site_id",
                              "anonymous_id", len(chunk))  # fmt: skip
            if connection.vendor == "postgresql":
                sql += " FOR KEY SHARE"
            cursor.execute(sql, [site.pk, *chunk])
            for values in cursor.fetchall():  # as the backend gives them (a UUID as text)
                values = [f.to_python(v) for f, v in zip(VISITOR_FIELDS, values, strict=True)]
                visitor = Visitor.from_db("default", VISITOR_COLUMNS, values)
                visitors[visitor.anonymous_id] = visitor
    return visitors


@lru_cache(maxsize=128)  # by batch size: a few sizes are most of the traffic
def _select_sql(vendor: str, table: str, columns: tuple, equal: str, among: str, n: int) -> str:
    """SELECT columns WHERE equal = %s AND among IN (n placeholders), made once per shape (on
    this path, building a query through the ORM cost more than running it)."""
    quote = connection.ops.quote_name
    return (
        f"SELECT {', '.join(map(quote, columns))} FROM {quote(table)} "  # noqa: S608
        f"WHERE {quote(equal)} = %s AND {quote(among)} IN ({', '.join(['%s'] * n)})"
    )  # only names and placeholders: every value is a parameter


def _journeys(rows: list[Row], visitors: dict[str, Visitor]) -> None:
    """Each step action's journey, started in the funnel's current version (or the person's
    experiment variant) if it has none: one query per funnel, not one per message."""
    for funnel in {row.funnel for row in rows}:
        version = current_version(funnel)
        mine = [row for row in rows if row.funnel == funnel]
        wanted = {visitors[row.message.visitor_key].pk for row in mine}
        found = _load_journeys(version.funnel_id, wanted)
        if wanted - found.keys():
            by_pk = {v.pk: v for v in visitors.values()}
            starts = {pk: starting_version(by_pk[pk], version) for pk in wanted - found.keys()}
            Journey.objects.bulk_create(
                [Journey(visitor_id=pk, funnel_id=version.funnel_id, version=start,
                         current_step=start.spec.steps[0].key)
                 for pk, start in sorted(starts.items())],
                ignore_conflicts=True,  # another request may start the same journey at once
            )  # fmt: skip
            found = _load_journeys(version.funnel_id, wanted)
        for row in mine:
            row.journey = found[visitors[row.message.visitor_key].pk]


def _load_journeys(funnel_id: int, visitor_ids) -> dict[uuid.UUID, JourneyRef]:
    ids, found = list(visitor_ids), {}
    visitor = Journey._meta.get_field("visitor").target_field
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        with connection.cursor() as cursor:
            values = [visitor.get_db_prep_value(pk, connection) for pk in chunk]
            sql = _select_sql(connection.vendor, Journey._meta.db_table,
                              ("visitor_id", "id", "version_id"), "funnel_id", "visitor_id",
                              len(chunk))  # fmt: skip
            cursor.execute(sql, [funnel_id, *values])
            for visitor_id, pk, version_id in cursor.fetchall():
                found[visitor.to_python(visitor_id)] = JourneyRef(pk, version_id)
    return found


def _new_visitor(received: Received, key: str, message: Message) -> Visitor:
    user_agent = device_user_agent(received, message)
    return Visitor(
        site=received.site,
        anonymous_id=key,
        user_id=message.userId or "",
        user_agent=user_agent[:512],
        is_bot=is_bot_message(received, message),
        **touch_fields(page_context(message)),
    )


def _insert(received: Received, rows: list[Row], visitors: dict[str, Visitor]) -> dict[str, int]:
    """One multi-row INSERT per chunk; returns the ids of the events whose message ids were not
    there before, by message id."""
    received_at = connection.ops.adapt_datetimefield_value(received.at)
    visitor_pk = Event._meta.get_field("visitor").target_field
    new: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        params: list = []
        for row in chunk:
            visitor = visitors[row.message.visitor_key]
            params += [
                *row.stored, received_at, visitor_pk.get_db_prep_value(visitor.pk, connection),
                visitor.lead_id, row.journey.version_id if row.journey else None,
                visitor.is_bot or row.bot,
            ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(_insert_sql(connection.vendor, len(chunk)), params)
            new.update(cursor.fetchall())
    return new


INSERTED_COLUMNS = (*STORED_COLUMNS, "received_at", "visitor", "lead", "funnel_version", "is_bot")


@lru_cache(maxsize=64)  # by batch size: a few sizes are most of the traffic
def _insert_sql(vendor: str, count: int) -> str:
    """The INSERT for `count` rows, made once per size (on this path, building it cost as much
    as running it)."""
    quote = connection.ops.quote_name
    names = ", ".join(quote(Event._meta.get_field(c).column) for c in INSERTED_COLUMNS)
    row = "(" + ", ".join(["%s"] * len(INSERTED_COLUMNS)) + ")"
    return (
        f"INSERT INTO {quote(Event._meta.db_table)} ({names}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)} ON CONFLICT ({quote('message_id')}) DO NOTHING "
        f"RETURNING {quote('message_id')}, {quote('id')}"
    )  # only names and placeholders: every value is a parameter


# --- side effects of first-time messages ---------------------------------------------------------


def _apply(received: Received, row: Row, visitor: Visitor, event: Event) -> None:
    message = row.message
    if message.type == "identify":
        _identify(received, row, visitor)
    elif message.type == "alias":
        _alias(received.site, message.previousId, message.userId)
    elif message.type == "page" and not visitor.landing_url:
        _first_touch(visitor, row.properties)
    elif row.name == EventName.STEP_COMPLETED and row.journey is not None:
        _complete(row, event)
    elif row.name == EventName.QUIZ_COMPLETED and row.journey is not None:
        # The tier routes the journey on, as the outcome of a quiz served here does.
        Journey.objects.filter(pk=row.journey.id).update(outcome=row.properties.get("outcome", ""))


def _complete(row: Row, completed: Event) -> None:
    """A tracked site says a step of a funnel was done: the journey moves on as on a page."""
    journey = Journey.objects.select_related("version", "visitor").get(pk=row.journey.id)
    step: StepBase | None = journey.version.spec.step(row.step_key)
    if step is None:  # the journey started in a version without this step
        return
    finish(journey, step, completed=completed)


def _identify(received: Received, row: Row, visitor: Visitor) -> None:
    traits = {k: v for k, v in row.message.traits.items() if k != "email"}
    user_id = row.message.userId
    if row.email:
        lead = identify(visitor, row.email, traits, _consent(received, row))
        if user_id and not lead.user_id and not Lead.objects.filter(user_id=user_id).exists():
            lead.user_id = user_id
            lead.save(update_fields=["user_id"])
            _stitch_user(user_id, lead)
    elif user_id:
        lead = Lead.objects.filter(user_id=user_id).first()
        if lead is not None:
            fill_profile(lead, traits)


def _consent(received: Received, row: Row) -> ConsentGiven | None:
    """A site's opt-in form says what the visitor agreed to in context.consent.text."""
    consent = row.message.context.get("consent")
    text = consent.get("text") if isinstance(consent, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    page_url = str(row.properties.get("url") or page_context(row.message).get("url", ""))
    return consent_given(text, page_url, received.address, device_user_agent(received, row.message))


def _link_user(visitor: Visitor, user_id: str) -> None:
    """The first message that names a visitor's user id links it to that user's lead."""
    if visitor.user_id != user_id:
        visitor.user_id = user_id
        Visitor.objects.filter(pk=visitor.pk).update(user_id=user_id)
    if visitor.lead_id is None:
        lead = Lead.objects.filter(user_id=user_id).first()
        if lead is not None:
            stitch(visitor, lead)


def _stitch_user(user_id: str, lead: Lead) -> None:
    for other in Visitor.objects.filter(user_id=user_id).exclude(lead=lead):
        stitch(other, lead)


def _alias(site: Site, previous_id: str, user_id: str) -> None:
    """`alias(previousId, userId)`: the visitors known by the old id are the new user."""
    earlier = Visitor.objects.filter(
        Q(anonymous_id=previous_id) | Q(user_id=previous_id), site=site
    )
    earlier.update(user_id=user_id)
    lead = Lead.objects.filter(user_id=user_id).first()
    if lead is None:
        known = Visitor.objects.filter(user_id=user_id, lead__isnull=False).first()
        lead = known.lead if known else None
        if lead is not None and not lead.user_id:
            Lead.objects.filter(pk=lead.pk).update(user_id=user_id)
    if lead is not None:
        _stitch_user(user_id, lead)


def _first_touch(visitor: Visitor, properties: dict) -> None:
    """A visitor first seen through another call gets its first page's URL, referrer, UTMs."""
    touch = touch_fields(properties)
    if touch["landing_url"]:
        Visitor.objects.filter(pk=visitor.pk, landing_url="").update(**touch)
        visitor.landing_url = touch["landing_url"]
