"""Copies the event log and identity changes from the primary database to ClickHouse, in
batches, at least once: rows are sent, then the checkpoint moves, so a crash in between sends
them again and ReplacingMergeTree keeps one (warehouse.schema). Two streams, each with its
checkpoint in the primary database:

- events: every event that is not a bot's, in id order, with its person (the lead if it had
  one when shipped, else the visitor) and its visitor's first touch; the visitors it names go
  to `identities` (person, first visit, source, device) in the same batch, and their
  experiment exposures to `exposures` (an exposure is made with its visitor's first event in
  the variant's ladder, so it is shipped with that event at the latest);
- identities: visitors that joined a lead after their rows were shipped (IdentityChange, kept
  by `on_stitched`, a reactor of reactions.STITCHED, while a store is set up), or whose
  history was moved in time (`on_rewritten`, reactions.REWRITTEN): their identity and events
  are shipped again under the lead, and tombstones replace the copies under the visitor.

Then erasures (Erasure, kept by `on_erased`, reactions.ERASED): each shard is asked once to
delete every row of the erased people (a mutation), and the Erasure row goes once every shard
says it is done.

A checkpoint only moves past rows older than `settle` seconds: ids are given before commit, so
a row with a smaller id may still appear for a moment; younger rows are simply sent again.
"""

import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings as django_settings
from django.db.models import F
from django.utils import timezone

from yesladder.analytics.devices import device_type
from yesladder.analytics.rules import flags, person, tier
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Visitor
from yesladder.warehouse import identity, reading, schema
from yesladder.warehouse.client import (
    Unreachable,
    WarehouseError,
    check,
    connect,
    insert,
    run,
    shards,
)
from yesladder.warehouse.config import Settings
from yesladder.warehouse.models import Checkpoint, Erasure, IdentityChange
from yesladder.warehouse.reading import EventRow, hexed, to_micros
from yesladder.warehouse.turn import Busy, shipping_turn

logger = logging.getLogger(__name__)

BATCH = 5_000
SETTLE_SECONDS = 30
ERASURE_SECONDS = 300  # how long `clickhouse sync` waits for shards to delete erased rows
WORKER_ERASURE_SECONDS = 2  # the worker has other work: it looks again next round
ERASURES_PER_ROUND = 200  # keeps each deletion's text well under the server's query size
EVENTS, IDENTITIES = "events", "identities"


def configured() -> Settings | None:
    return django_settings.CLICKHOUSE


@dataclass
class Shipped:
    events: int = 0  # rows whose checkpoint moved
    identities: int = 0
    erasures: int = 0
    notes: list[str] = field(default_factory=list)  # what was done before shipping, and why

    def total(self) -> int:
        return self.events + self.identities + self.erasures


class Shipper:
    def __init__(self, settings: Settings, settle: float = SETTLE_SECONDS, batch: int = BATCH,
                 erasure_wait: float = ERASURE_SECONDS):  # fmt: skip
        self.settings, self.settle, self.batch = settings, settle, batch
        self.erasure_wait = erasure_wait
        self.client = connect(settings)
        self._funnels: dict[int, int] = {}
        self._by_name: dict[str, tuple[int, int, int, str]] = {}
        self._servers: list[Settings] = []

    # --- the loop ----------------------------------------------------------------------------

    def sync(self, tick: Callable[[int], None] = lambda n: None, wait: float = 0) -> Shipped:
        """Ship until both streams are caught up (up to the settle margin), then carry out
        pending erasures. Holds the shipping turn (warehouse.turn; Busy if another shipper
        keeps it past `wait` s), never a transaction while ClickHouse is asked anything."""
        done = Shipped()
        with shipping_turn(wait):
            if identity.pending():  # a `sync --from-scratch` was interrupted: finish it
                self._guarded(lambda: identity.rebuild(self.settings))
                done.notes.append(
                    "finished an interrupted `sync --from-scratch`: tables "
                    "dropped and made again; shipping every event from the start"
                )
            self._servers = self.checked()
            note = self._guarded(lambda: identity.settle(self.settings, self._servers))
            if note:
                done.notes.append(note)
                logger.warning("ClickHouse store: %s", note)
            for stream, step in ((EVENTS, self._events), (IDENTITIES, self._identities)):
                while True:
                    moved, full = self._batch(stream, step)
                    setattr(done, stream, getattr(done, stream) + moved)
                    tick(moved)
                    if not full or not moved:
                        break
            done.erasures = self._erase()
        return done

    def _batch(self, stream: str, step) -> tuple[int, bool]:
        """Read one batch (plain reads, no transaction), ship it, then move the checkpoint in a
        statement of its own: no lock of the primary database waits on ClickHouse."""
        mark, _ = Checkpoint.objects.get_or_create(stream=stream)
        try:
            sent, position, full = step(mark.position)
        except Unreachable as exc:  # name the server that stopped answering, if one did
            problems = check(self.settings)[1]
            found = WarehouseError("; ".join(problems)) if problems else exc
            _failed(stream, found)  # kept for `clickhouse status` and the dashboard
            raise found from None
        except WarehouseError as exc:
            _failed(stream, exc)
            raise
        identity.reached("batch shipped")  # (tests inject faults here)
        moved = 0 if position is None else position - mark.position
        Checkpoint.objects.filter(pk=mark.pk).update(
            position=position if position is not None else mark.position,
            shipped=F("shipped") + sent, synced_at=timezone.now(), error="",
        )  # fmt: skip
        return (sent if moved else 0), full

    def _guarded(self, step):
        """A step before shipping; its failure is kept for status like a batch's."""
        try:
            return step()
        except WarehouseError as exc:
            _failed(EVENTS, exc)
            raise

    def checked(self) -> list[Settings]:
        """Every shard, once each has answered and has the tables; else WarehouseError naming
        each server that is unreachable or misconfigured (kept for status and the dashboard)."""
        servers, problems = check(self.settings)
        if problems:
            found = WarehouseError("; ".join(problems))
            _failed(EVENTS, found)
            raise found
        return servers

    def _cutoff(self) -> dt.datetime:
        """Rows received after this may still be joined by a smaller id (module docstring)."""
        return timezone.now() - dt.timedelta(seconds=self.settle)

    # --- events ------------------------------------------------------------------------------

    def _events(self, after: int) -> tuple[int, int | None, bool]:
        version = _now()  # before the read: a later read (a stitch since) replaces these rows
        rows = reading.events(after, self.batch, self._cutoff())
        if rows:
            self.send_events(rows, version=version)
        position = _settled((r.id, r.settled) for r in rows)
        return len(rows), position, len(rows) == self.batch

    def send_events(self, rows: list[EventRow], version: int, tombstones: bool = False) -> None:
        visitors = list({r.visitor for r in rows})
        self.send_identities(visitors, version)
        self.send_exposures(visitors, version, tombstones)
        out = []
        for r in rows:
            visitor = hexed(r.visitor)
            *counts, result_tier = self._counts(r.name, r.properties)
            row = (r.id, r.version_id or 0, visitor, r.name, r.label, r.step, to_micros(r.at),
                   *counts, r.source, r.medium, r.campaign, result_tier, version)  # fmt: skip
            funnel = self._funnel(r.version_id)
            out.append((funnel, person(r.lead_id, visitor), *row, 0))
            if tombstones and r.lead_id:
                out.append((funnel, person(None, visitor), *row, 1))
        insert(self.client, self.settings, self._insert(EVENTS, schema.EVENT_COLUMNS), out)

    def _counts(self, name: str, properties) -> tuple[int, int, int, str]:
        """Opted in, engaged, revenue and the tier of a scored quiz's result: from the name
        alone (once per name) unless the counts read the event's properties (reading.events
        gives them only then)."""
        if properties is None:
            if name not in self._by_name:
                self._by_name[name] = (*flags(name, {}), "")
            return self._by_name[name]
        found = json.loads(properties) if isinstance(properties, str) else properties
        return (*flags(name, found), tier(name, found) or "")

    def _funnel(self, version_id: int | None) -> int:
        if not version_id:
            return 0
        if version_id not in self._funnels:
            self._funnels.update(FunnelVersion.objects.values_list("id", "funnel_id"))
        return self._funnels.get(version_id, 0)

    # --- identities --------------------------------------------------------------------------

    def send_identities(self, visitors: list, version: int, tombstones: bool = False) -> None:
        """Identity rows of these visitors (ids as stored)."""
        out = []
        for v in reading.visitors(visitors):
            visitor = hexed(v.id)
            row = (visitor, to_micros(v.created), v.source, v.medium, v.campaign,
                   _device(v.user_agent), version)  # fmt: skip
            out.append((person(v.lead_id, visitor), *row, 0))
            if tombstones and v.lead_id:
                out.append((person(None, visitor), *row, 1))
        insert(self.client, self.settings, self._insert(IDENTITIES, schema.IDENTITY_COLUMNS), out)

    def send_exposures(self, visitors: list, version: int, tombstones: bool = False) -> None:
        """The visitors' exposures as they stand: a stitched one under its lead (counted or
        not, as experiments.assignment decided), its copy under the visitor a tombstone."""
        out = []
        for experiment, who, visitor, variant, version_id, counted in reading.exposures(visitors):
            row = (hexed(visitor), variant, version_id, int(counted), version)
            out.append((experiment, who, *row, 0))
            if tombstones and who != person(None, hexed(visitor)):
                out.append((experiment, person(None, hexed(visitor)), *row, 1))
        if out:
            columns = schema.EXPOSURE_COLUMNS
            insert(self.client, self.settings, self._insert("exposures", columns), out)

    def _identities(self, after: int) -> tuple[int, int | None, bool]:
        cutoff, version = self._cutoff(), _now()
        changes = list(IdentityChange.objects.filter(id__gt=after).order_by("id")
                       .values_list("id", "visitor_id", "at")[: self.batch])  # fmt: skip
        visitors = list({reading.stored(visitor) for _, visitor, _ in changes})
        if visitors:
            self.send_identities(visitors, version, True)
            last, full = 0, True
            while full:  # the visitors' whole history, again under their person
                rows = reading.events(last, self.batch, cutoff, visitors)
                if rows:
                    self.send_events(rows, version, tombstones=True)
                    last = rows[-1].id
                full = len(rows) == self.batch
        position = _settled((pk, at <= cutoff) for pk, _, at in changes)
        return len(changes), position, len(changes) == self.batch

    # --- erasures ----------------------------------------------------------------------------

    def _erase(self) -> int:
        """Carry out pending erasures: each shard is asked once to delete their rows, and an
        erasure's row goes once every shard has finished (waiting up to `erasure_wait` s, else
        the next round looks again). The number of erasures completed."""
        pending = list(Erasure.objects.order_by("id")[:ERASURES_PER_ROUND])
        if not pending:
            return 0
        # Every batch read before these erasures committed is in ClickHouse by now: this
        # shipper shipped them above, and no other ships while it has the turn.
        servers = self._servers or shards(self.settings)
        for shard in servers:
            self._ask_to_delete(shard, [e for e in pending if shard.where() not in e.issued])
        for shard in servers:
            since = min(e.issued[shard.where()] for e in pending)
            if not _deleted(connect(shard), shard, since, self.erasure_wait):
                return 0
        Erasure.objects.filter(pk__in=[e.pk for e in pending]).delete()
        return len(pending)

    def _ask_to_delete(self, shard: Settings, erasures: list) -> None:
        if not erasures:
            return
        client = connect(shard)
        since = run(client, shard, "SELECT toString(now())")[0][0]
        for name in schema.TABLES:
            where, params = _erased_rows(erasures, with_events=name == EVENTS)
            run(client, shard, f"ALTER TABLE {shard.database}.{name}_local DELETE "  # noqa: S608
                f"WHERE {where}", params)  # fmt: skip
        for erasure in erasures:
            erasure.issued[shard.where()] = since
        Erasure.objects.bulk_update(erasures, ["issued"])

    def _insert(self, name: str, columns) -> str:
        return schema.insert_sql(self.settings.database, name, self.settings.cluster, columns)


def _erased_rows(erasures: list, with_events: bool) -> tuple[str, dict]:
    """Every row of the erased people: under their keys, of their devices under any person
    (a device that moved to another lead), and, for events, the lead's events made on a device
    now another lead's (their tombstones stay under that device)."""
    keys = {
        "persons": sorted({p for e in erasures for p in e.persons}),
        "visitors": sorted({v for e in erasures for v in e.visitors}),
        "events": sorted({i for e in erasures for i in e.events}) if with_events else [],
    }
    column = {"persons": "person", "visitors": "visitor", "events": "event_id"}
    found = {name: tuple(values) for name, values in keys.items() if values}
    return " OR ".join(f"{column[name]} IN %({name})s" for name in found), found


def _deleted(client, shard: Settings, since: str, wait: float) -> bool:
    """Whether the deletions asked of this shard since `since` (its clock) are done, waiting
    up to `wait` s: ClickHouse deletes in the background and 18.16 cannot be told to wait."""
    deadline = time.monotonic() + wait
    while run(client, shard, "SELECT count() FROM system.mutations WHERE database = %(db)s "
              "AND is_done = 0 AND create_time >= toDateTime(%(since)s)",
              {"db": shard.database, "since": since})[0][0]:  # fmt: skip
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _settled(rows: Iterable[tuple[int, bool]]) -> int | None:
    """The id up to which every row (id, received before the cutoff), in id order, is older
    than the settle margin."""
    position = None
    for pk, settled in rows:
        if not settled:
            break
        position = pk
    return position


_device = lru_cache(maxsize=4096)(device_type)  # a crowd has far fewer browsers than people


def _now() -> int:
    """Later shipments replace earlier ones: the version of a row is when it was sent (µs)."""
    return time.time_ns() // 1000


# --- wiring ----------------------------------------------------------------------------------


def on_stitched(visitor: Visitor, events: list, joined: bool, **_) -> None:
    """Reactor (reactions.STITCHED), in the stitch's transaction: a visitor that joined a lead,
    or whose anonymous events became the lead's, is shipped again under the lead. A visitor
    identified again by the lead it has is not (the tracking API may say so on every page)."""
    if configured() is not None and (joined or events):
        IdentityChange.objects.create(visitor_id=visitor.pk)


def on_rewritten(visitor: Visitor, **_) -> None:
    """Reactor (reactions.REWRITTEN): a visitor's history moved in time (`simulate`) is
    shipped again; its rows keep their keys, so the new times replace the old."""
    if configured() is not None:
        IdentityChange.objects.create(visitor_id=visitor.pk)


def on_erased(lead, visitors: list, events: list, **_) -> None:
    """Reactor (reactions.ERASED), in the erasure's transaction: the person's rows in
    ClickHouse are deleted at the next shipping; nothing of theirs waits to be shipped again.
    Kept also while no store is set up here if one was ever shipped to (this process may lack
    its address, or it may be set up again without starting from scratch)."""
    if configured() is None and not Checkpoint.objects.exists():
        return
    IdentityChange.objects.filter(visitor_id__in=visitors).delete()
    devices = [hexed(v) for v in visitors]
    Erasure.objects.create(persons=[person(lead.pk, ""), *(person(None, d) for d in devices)],
                           visitors=devices, events=list(events))  # fmt: skip


def every() -> float:
    """Seconds between the worker's shipping rounds (read at each round)."""
    return django_settings.CLICKHOUSE_SHIP_SECONDS


def _failed(stream: str, exc: Exception) -> None:
    """Keep why shipping stopped, for `clickhouse status` and the dashboard (one statement)."""
    Checkpoint.objects.get_or_create(stream=stream)
    Checkpoint.objects.filter(stream=stream).update(error=str(exc)[:2000])


def ship_round() -> int:
    """The worker's turn: ship what is new; ClickHouse being down never stops the worker, and
    another shipper at work (`clickhouse sync`) is simply left to it."""
    settings = configured()
    if settings is None:
        return 0
    try:
        return Shipper(settings, erasure_wait=WORKER_ERASURE_SECONDS).sync().total()
    except WarehouseError as exc:
        logger.warning("shipping to ClickHouse paused: %s", exc)
    except Busy:
        pass
    return 0
