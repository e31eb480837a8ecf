"""Setting the store up, asking how far behind it is, and whether reports may come from it
(the CLI and the dashboard call these)."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Min
from django.utils import timezone

from yesladder.tracking.models import Event
from yesladder.warehouse import identity
from yesladder.warehouse.client import WarehouseError, check
from yesladder.warehouse.config import Settings
from yesladder.warehouse.models import Checkpoint, Erasure, IdentityChange
from yesladder.warehouse.shipping import EVENTS, IDENTITIES
from yesladder.warehouse.store import ClickHouseStore
from yesladder.warehouse.turn import shipping_turn

TURN_SECONDS = 60  # how long a command waits for the worker's shipping round to end


def init(settings: Settings) -> list[str]:
    """Create the database, tables and the store's identity on every shard (again is
    harmless); warehouse.identity.init."""
    with shipping_turn(TURN_SECONDS):
        return identity.init(settings)


def from_scratch(settings: Settings, wait: float = 0) -> None:
    """Drop what was shipped (rows erased in the primary database go with it) and start again
    under the store's next generation; safe to interrupt at every step (the next shipper
    finishes it: warehouse.identity)."""
    with shipping_turn(wait):
        problems = check(settings, tables=False)[1]  # nothing is dropped unless all answer
        if problems:
            raise WarehouseError("; ".join(problems))
        identity.mark_rebuild()
        identity.rebuild(settings)


def remember(error: Exception) -> None:
    """A query of the store failed (the dashboard's): kept as its last error, shown on the
    store line, and the dashboard answers from the embedded engine until shipping succeeds
    again (no page waits for a store that just did not answer)."""
    Checkpoint.objects.get_or_create(stream=EVENTS)
    Checkpoint.objects.filter(stream=EVENTS).update(error=str(error)[:2000])


@dataclass(frozen=True)
class Status:
    events_shipped_to: int
    events_waiting: int
    identities_waiting: int
    erasures_waiting: int
    behind_seconds: float | None  # age of the oldest row not yet shipped; None: caught up
    synced_at: dt.datetime | None
    error: str

    @property
    def caught_up(self) -> bool:
        return not (self.events_waiting or self.identities_waiting or self.erasures_waiting)

    def lag(self) -> str:
        """How far behind the event log the store is, in words (the CLI and the dashboard)."""
        if self.caught_up:
            return "caught up with the event log"
        behind = f"{self.behind_seconds:,.0f} s, " if self.behind_seconds is not None else ""
        waiting = [f"{self.events_waiting:,} events",
                   f"{self.identities_waiting:,} identity changes"]  # fmt: skip
        if self.erasures_waiting:
            waiting.append(f"{self.erasures_waiting:,} erasures")
        return (f"behind the event log ({behind}{', '.join(waiting[:-1])} and {waiting[-1]} "
                "not shipped yet)")  # fmt: skip


def status() -> Status:
    marks = {c.stream: c for c in Checkpoint.objects.all()}
    events = marks.get(EVENTS)
    position = events.position if events else 0
    waiting = Event.objects.filter(id__gt=position, is_bot=False)
    identities = marks.get(IDENTITIES)
    changes = IdentityChange.objects.filter(id__gt=identities.position if identities else 0)
    erasures = Erasure.objects.all()
    oldest = [at for at in (waiting.aggregate(at=Min("received_at"))["at"],
                            changes.aggregate(at=Min("at"))["at"],
                            erasures.aggregate(at=Min("at"))["at"]) if at]  # fmt: skip
    synced = [c.synced_at for c in marks.values() if c.synced_at]
    return Status(
        events_shipped_to=position, events_waiting=waiting.count(),
        identities_waiting=changes.count(), erasures_waiting=erasures.count(),
        behind_seconds=(timezone.now() - min(oldest)).total_seconds() if oldest else None,
        synced_at=min(synced) if synced else None,
        error="; ".join(c.error for c in marks.values() if c.error),
    )  # fmt: skip


def reporting_store(
    settings: Settings | None, max_lag: float
) -> tuple[ClickHouseStore | None, str]:
    """The store a page's report may come from, and why not when it may not: none set up, its
    last shipping failed (it is likely down: not waiting for it keeps the page fast), or it is
    further behind the event log than `max_lag` seconds. Read from the primary database only."""
    if settings is None:
        return None, ""
    now = status()
    if now.error:
        return None, "the store's last shipping or query failed"
    if now.behind_seconds is not None and now.behind_seconds > max_lag:
        return None, f"the store is more than {max_lag:,.0f} s behind the event log"
    return ClickHouseStore(settings), ""
