"""Traffic costs from a CSV file or the command line: validated row by row, stored per source
and day (a row for a day already there replaces it, so importing the same file twice is safe)."""

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import transaction

from yesladder.analytics.models import TrafficCost
from yesladder.funnels.money import minor_units

COLUMNS = ("source", "day", "clicks", "cost")  # and optionally currency, note
MAX_ROWS = 100_000


class CostError(ValueError):
    """A row that cannot be stored; the message names the line and the column."""


@dataclass(frozen=True)
class Cost:
    source: str
    day: dt.date
    clicks: int
    cost: int  # minor units
    currency: str
    note: str = ""


def parse_row(row: dict, line: int, default_currency: str = "USD") -> Cost:
    def field(name: str) -> str:
        value = (row.get(name) or "").strip()
        if not value and name in COLUMNS:
            raise CostError(f"line {line}: `{name}` is empty")
        return value

    def bad(name: str, expected: str) -> CostError:
        return CostError(f"line {line}: `{name}` must be {expected}, got {row.get(name)!r}")

    source = field("source")
    if len(source) > 200:
        raise CostError(f"line {line}: `source` is longer than 200 characters")
    currency = (field("currency") or default_currency).upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise bad("currency", "a three-letter code like USD")
    try:
        day = dt.date.fromisoformat(field("day"))
    except ValueError:
        raise bad("day", "a day as YYYY-MM-DD") from None
    if not field("clicks").isdigit():
        raise bad("clicks", "a whole number of clicks, 0 or more")
    try:
        cost = minor_units(Decimal(field("cost")), currency)
    except (InvalidOperation, ValueError):
        raise bad("cost", f"an amount of {currency} like 120.50, 0 or more") from None
    if cost < 0:
        raise bad("cost", "0 or more")
    return Cost(source, day, int(field("clicks")), cost, currency, field("note")[:200])


def read_csv(lines, default_currency: str = "USD") -> list[Cost]:
    """Every row, or CostError for the first bad one (nothing is half-imported)."""
    reader = csv.DictReader(lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CostError(f"the header lacks {', '.join(missing)}; expected {','.join(COLUMNS)}"
                        ",currency,note (currency and note optional)")  # fmt: skip
    costs = []
    for line, row in enumerate(reader, start=2):
        if line > MAX_ROWS + 1:
            raise CostError(f"more than {MAX_ROWS:,} rows; split the file")
        costs.append(parse_row(row, line, default_currency))
    return costs


def store(costs: list[Cost]) -> int:
    with transaction.atomic():
        for cost in costs:
            TrafficCost.objects.update_or_create(
                source=cost.source, day=cost.day,
                defaults={"clicks": cost.clicks, "cost": cost.cost, "currency": cost.currency,
                          "note": cost.note},
            )  # fmt: skip
    return len(costs)
