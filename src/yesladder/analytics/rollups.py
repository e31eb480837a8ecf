"""Applies the change of a row's footprint (analytics.footprint) to the per-day rollups, in the
caller's transaction: one `INSERT … ON CONFLICT … DO UPDATE` adding to what is there, the same
statement on SQLite and PostgreSQL."""

from collections.abc import Sequence
from functools import cache
from itertools import islice

from django.db import connection
from django.db.models.signals import post_delete
from django.dispatch import receiver

from yesladder.analytics.footprint import Change, Standing, difference, footprint, standing
from yesladder.analytics.models import DayMark, DayMove, DayTally, Progress
from yesladder.reactions import PROGRESS_MOVED, PROGRESS_RECOUNTED, announce

ROWS_PER_STATEMENT = 200
# table -> (model, key columns after funnel_id, version_id, day; summed columns)
TABLES = {
    "tally": (DayTally, ("dimension", "value", "level"),
              ("people", "opted_in", "engaged", "revenue")),
    "mark": (DayMark, ("mark", "position"), ("people",)),
    "move": (DayMove, ("rung", "seconds"), ("people",)),
}  # fmt: skip


def apply(change: Change) -> None:
    """Add the change to the rollups. Keys go in sorted order so that two PostgreSQL
    transactions adding to the same rows take their locks in the same order (no deadlock)."""
    for table in TABLES:
        rows = sorted((key[1:], values) for key, values in change.items() if key[0] == table)
        found = iter(rows)
        while chunk := list(islice(found, ROWS_PER_STATEMENT)):
            params = [v for key, values in chunk for v in _params(key, values)]
            with connection.cursor() as cursor:
                cursor.execute(_upsert(table, len(chunk)), params)


def _params(key: tuple, values: tuple) -> tuple:
    funnel_id, version_id, day, *rest = key
    return (funnel_id, version_id, connection.ops.adapt_datefield_value(day), *rest, *values)


def _upsert(table: str, count: int) -> str:
    """The statement for `count` rows of one rollup (made once per size: every event batch
    and every tracked request runs it)."""
    model, keys, sums = TABLES[table]
    unique = ("version_id", "day", *keys)
    return adding(model, ("funnel_id", *unique), unique, sums, count)


@cache
def adding(model, columns: tuple, unique: tuple, sums: tuple, count: int) -> str:
    """`INSERT` of `count` rows of `columns` then `sums`, adding the sums to a row already there
    with the same `unique` columns (the rollups of layers above use it too)."""
    quote = connection.ops.quote_name
    name = quote(model._meta.db_table)
    row = "(" + ", ".join(["%s"] * (len(columns) + len(sums))) + ")"
    added = ", ".join(f"{quote(s)} = {name}.{quote(s)} + excluded.{quote(s)}" for s in sums)
    # Names come from the models and every value is a parameter.
    return (
        f"INSERT INTO {name} ({', '.join(map(quote, (*columns, *sums)))}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)} "
        f"ON CONFLICT ({', '.join(map(quote, unique))}) DO UPDATE SET {added}"
    )


# Rollups that layers above keep from Progress rows (experiments: per variant) hear every row's
# standing before and after (None: no row), in the writer's transaction, and when rows are about
# to be counted again from the event log: reactions.PROGRESS_MOVED and PROGRESS_RECOUNTED.
Moves = Sequence[tuple[Standing | None, Standing | None]]


def rows_moved(moves: Moves) -> None:
    moves = [(a, b) for a, b in moves if a != b]
    if moves:
        announce(PROGRESS_MOVED, moves=moves)


def rows_recounted(funnel_key: str | None) -> None:
    """Every row of the funnel (or of all) is gone and about to be counted again."""
    announce(PROGRESS_RECOUNTED, funnel_key=funnel_key)


@receiver(post_delete, sender=Progress)
def _forget(instance, **kwargs) -> None:
    """A row deleted with its lead or visitor (erasure, stitching) leaves the rollups too."""
    apply(difference(footprint(instance), None))
    rows_moved([(standing(instance), None)])
