"""What the shipper reads from the primary database: one SQL statement per batch of events
(with their visitor's source), one for their visitors and one for their experiment exposures,
as plain tuples.

The ORM's `.values()` spent more than half of shipping's time building dicts and running a
converter per value (times, UUIDs, JSON). Here times come as the database keeps them (text on
SQLite, read past Django's converter; aware datetimes on PostgreSQL), visitor ids as stored
(hex on SQLite, UUIDs on PostgreSQL) and an event's properties only when the counts read them
(analytics.rules.PROPERTIES_READ); every value is a parameter.
"""

import datetime as dt
from typing import NamedTuple

from django.db import connection

from yesladder.analytics.rules import PROPERTIES_READ, micros
from yesladder.experiments.models import Exposure
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event


class EventRow(NamedTuple):
    id: int
    name: str
    label: str
    step: str
    properties: object  # JSON text or a dict when the counts read it, else None
    at: object  # occurred_at as the database gives it (see `to_micros`)
    settled: int  # 1: received before the settle margin's cutoff
    lead_id: int | None
    visitor: object  # the visitor's id as stored (see `hexed`)
    version_id: int | None
    source: str
    medium: str
    campaign: str


class VisitorRow(NamedTuple):
    id: object
    lead_id: int | None
    created: object
    user_agent: str
    source: str
    medium: str
    campaign: str


def _column(model, field: str, table: str) -> str:
    return f"{table}.{connection.ops.quote_name(model._meta.get_field(field).column)}"


def _time(column: str) -> str:
    # On SQLite a plain column of a datetime type goes through a converter per value.
    return f"CAST({column} AS TEXT)" if connection.vendor == "sqlite" else column


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def events(after: int, limit: int, cutoff: dt.datetime, visitors: list | None = None
           ) -> list[EventRow]:  # fmt: skip
    """Events that are not a bot's with an id above `after`, in id order, at most `limit`;
    only those of `visitors` (ids as stored) when given."""
    e, v = (lambda f: _column(Event, f, "e")), (lambda f: _column(Visitor, f, "v"))
    read = [str(name) for name in PROPERTIES_READ]
    where = f"{e('id')} > %s AND NOT {e('is_bot')}"
    if visitors is not None:
        where += f" AND {e('visitor')} IN ({_placeholders(len(visitors))})"
    quote = connection.ops.quote_name
    sql = (  # our own names; every value is a parameter
        f"SELECT {e('id')}, {e('name')}, {e('label')}, {e('step_key')}, "  # noqa: S608
        f"CASE WHEN {e('name')} IN ({_placeholders(len(read))}) THEN {e('properties')} END, "
        f"{_time(e('occurred_at'))}, CASE WHEN {e('received_at')} <= %s THEN 1 ELSE 0 END, "
        f"{e('lead')}, {e('visitor')}, {e('funnel_version')}, "
        f"{v('utm_source')}, {v('utm_medium')}, {v('utm_campaign')} "
        f"FROM {quote(Event._meta.db_table)} e JOIN {quote(Visitor._meta.db_table)} v "
        f"ON v.{quote(Visitor._meta.pk.column)} = {e('visitor')} "
        f"WHERE {where} ORDER BY {e('id')} LIMIT %s"
    )
    params = [*read, connection.ops.adapt_datetimefield_value(cutoff), after,
              *(visitors or ()), limit]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [EventRow(*row) for row in cursor.fetchall()]


def visitors(ids: list) -> list[VisitorRow]:
    """The visitors with these ids (as stored): what their identity row needs."""
    fields = ["id", "lead", "created_at", "user_agent", "utm_source", "utm_medium", "utm_campaign"]
    return [VisitorRow(*row) for row in _of_visitors(Visitor, "id", fields, ids)]


def exposures(visitors: list) -> list[tuple]:
    """The experiment exposures of these visitors (ids as stored): experiment id, person,
    visitor, variant, variant's version id, counted."""
    fields = ["experiment", "person", "visitor", "variant", "version", "counted"]
    return _of_visitors(Exposure, "visitor", fields, visitors)


def _of_visitors(model, key: str, fields: list[str], visitors: list) -> list[tuple]:
    """These fields of `model`'s rows whose `key` is one of `visitors` (ids as stored)."""
    if not visitors:
        return []
    columns = [_column(model, f, "t") for f in fields]
    timed = [_time(c) if model._meta.get_field(f).get_internal_type() == "DateTimeField" else c
             for f, c in zip(fields, columns, strict=True)]  # fmt: skip
    sql = (
        f"SELECT {', '.join(timed)} "  # noqa: S608 (our names; the ids are parameters)
        f"FROM {connection.ops.quote_name(model._meta.db_table)} t "
        f"WHERE {_column(model, key, 't')} IN ({_placeholders(len(visitors))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(visitors))
        return cursor.fetchall()


def stored(visitor_id) -> object:
    """A visitor's id as the database keeps it (and `events` and `visitors` take it)."""
    return Visitor._meta.pk.get_db_prep_value(visitor_id, connection)


def hexed(visitor) -> str:
    """A visitor's id as stored, as ClickHouse and analytics name it: 32 hex digits."""
    return visitor if isinstance(visitor, str) else visitor.hex


def to_micros(value) -> int:
    """A stored time (text in UTC on SQLite, an aware datetime on PostgreSQL) in µs."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
    return micros(value)
