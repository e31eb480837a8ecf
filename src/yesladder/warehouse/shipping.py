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
  by `on_stitched`, a reactor of reactions.STITCHED, while a store is set up): their identity
  and events are shipped again under the lead, and tombstones replace the copies under the
  visitor.

A checkpoint only moves past rows older than `settle` seconds: ids are given before commit, so
a row with a smaller id may still appear for a moment; younger rows are simply sent again.
"""

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from yesladder.analytics.devices import device_type
from yesladder.analytics.progress import REVENUE, engaged, gave_email, micros
from yesladder.experiments.models import Exposure
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event
from yesladder.warehouse import schema
from yesladder.warehouse.client import WarehouseError, connect, insert
from yesladder.warehouse.config import Settings
from yesladder.warehouse.models import Checkpoint, IdentityChange

logger = logging.getLogger(__name__)

BATCH = 5_000
SETTLE_SECONDS = 30
EVENTS, IDENTITIES = "events", "identities"
EVENT_FIELDS = ("id", "name", "label", "step_key", "properties", "occurred_at", "received_at",
                "lead_id", "visitor_id", "funnel_version_id", "visitor__utm_source",
                "visitor__utm_medium", "visitor__utm_campaign")  # fmt: skip


def configured() -> Settings | None:
    return django_settings.CLICKHOUSE


def person(lead_id: int | None, visitor_id) -> str:
    """The same key analytics.progress counts people by."""
    return f"l{lead_id}" if lead_id else f"v{visitor_id.hex}"


@dataclass
class Shipped:
    events: int = 0  # rows whose checkpoint moved
    identities: int = 0

    def total(self) -> int:
        return self.events + self.identities


class Shipper:
    def __init__(self, settings: Settings, settle: float = SETTLE_SECONDS, batch: int = BATCH):
        self.settings, self.settle, self.batch = settings, settle, batch
        self.client = connect(settings)
        self._funnels: dict[int, int] = {}

    # --- the loop ----------------------------------------------------------------------------

    def sync(self, tick: Callable[[int], None] = lambda n: None) -> Shipped:
        """Ship until both streams are caught up (up to the settle margin)."""
        done = Shipped()
        for stream, step in ((EVENTS, self._events), (IDENTITIES, self._identities)):
            while True:
                moved, full = self._batch(stream, step)
                setattr(done, stream, getattr(done, stream) + moved)
                tick(moved)
                if not full or not moved:
                    break
        return done

    def _batch(self, stream: str, step) -> tuple[int, bool]:
        Checkpoint.objects.get_or_create(stream=stream)
        try:
            with transaction.atomic():  # one shipper at a time per stream (PostgreSQL row lock)
                mark = Checkpoint.objects.select_for_update().get(stream=stream)
                sent, position, full = step(mark.position)
                moved = 0 if position is None else position - mark.position
                Checkpoint.objects.filter(pk=mark.pk).update(
                    position=position if position is not None else mark.position,
                    shipped=mark.shipped + sent, synced_at=timezone.now(), error="",
                )  # fmt: skip
        except WarehouseError as exc:  # kept for `clickhouse status` and the dashboard
            Checkpoint.objects.filter(stream=stream).update(error=str(exc)[:2000])
            raise
        return (sent if moved else 0), full

    def _settled(self, rows: list, at) -> int | None:
        """The id up to which every row is older than the settle margin."""
        cutoff = timezone.now() - dt.timedelta(seconds=self.settle)
        position = None
        for row in rows:
            if at(row) > cutoff:
                break
            position = row["id"]
        return position

    # --- events ------------------------------------------------------------------------------

    def _events(self, after: int) -> tuple[int, int | None, bool]:
        rows = list(Event.objects.filter(id__gt=after, is_bot=False).order_by("id")
                    .values(*EVENT_FIELDS)[: self.batch])  # fmt: skip
        if rows:
            self.send_events(rows, version=_now())
        return len(rows), self._settled(rows, lambda r: r["received_at"]), len(rows) == self.batch

    def send_events(self, rows: list[dict], version: int, tombstones: bool = False) -> None:
        visitors = {r["visitor_id"] for r in rows}
        self.send_identities(Visitor.objects.filter(pk__in=visitors), version)
        self.send_exposures(visitors, version, tombstones)
        out = []
        for r in rows:
            out.append(self._event_row(r, person(r["lead_id"], r["visitor_id"]), version, 0))
            if tombstones and r["lead_id"]:
                out.append(self._event_row(r, person(None, r["visitor_id"]), version, 1))
        insert(self.client, self.settings, self._insert(EVENTS, schema.EVENT_COLUMNS), out)

    def _event_row(self, r: dict, who: str, version: int, deleted: int) -> tuple:
        event = SimpleNamespace(name=r["name"], properties=r["properties"] or {})
        amount = event.properties.get("amount")
        sign = REVENUE.get(r["name"])
        revenue = sign * amount if sign and isinstance(amount, int) else 0
        return (
            self._funnel(r["funnel_version_id"]), who, r["id"], r["funnel_version_id"] or 0,
            r["visitor_id"].hex, r["name"], r["label"], r["step_key"], micros(r["occurred_at"]),
            int(gave_email(event)), int(engaged(event)), revenue, r["visitor__utm_source"],
            r["visitor__utm_medium"], r["visitor__utm_campaign"], version, deleted,
        )  # fmt: skip

    def _funnel(self, version_id: int | None) -> int:
        if not version_id:
            return 0
        if version_id not in self._funnels:
            self._funnels.update(FunnelVersion.objects.values_list("id", "funnel_id"))
        return self._funnels.get(version_id, 0)

    # --- identities --------------------------------------------------------------------------

    def send_identities(self, visitors, version: int, tombstones: bool = False) -> None:
        out = []
        for v in visitors:
            row = (v.pk.hex, micros(v.created_at), v.utm_source, v.utm_medium, v.utm_campaign,
                   device_type(v.user_agent), version)  # fmt: skip
            out.append((person(v.lead_id, v.pk), *row, 0))
            if tombstones and v.lead_id:
                out.append((person(None, v.pk), *row, 1))
        insert(self.client, self.settings, self._insert(IDENTITIES, schema.IDENTITY_COLUMNS), out)

    def send_exposures(self, visitors: set, version: int, tombstones: bool = False) -> None:
        """The visitors' exposures as they stand: a stitched one under its lead (counted or
        not, as experiments.assignment decided), its copy under the visitor a tombstone."""
        found = Exposure.objects.filter(visitor_id__in=visitors).values_list(
            "experiment_id", "person", "visitor_id", "variant", "version_id", "counted"
        )
        out = []
        for experiment, who, visitor, variant, version_id, counted in found:
            row = (visitor.hex, variant, version_id, int(counted), version)
            out.append((experiment, who, *row, 0))
            if tombstones and who != person(None, visitor):
                out.append((experiment, person(None, visitor), *row, 1))
        if out:
            columns = schema.EXPOSURE_COLUMNS
            insert(self.client, self.settings, self._insert("exposures", columns), out)

    def _identities(self, after: int) -> tuple[int, int | None, bool]:
        changes = list(IdentityChange.objects.filter(id__gt=after).order_by("id")
                       .values("id", "visitor_id", "at")[: self.batch])  # fmt: skip
        visitors = {c["visitor_id"] for c in changes}
        if visitors:
            version = _now()
            self.send_identities(Visitor.objects.filter(pk__in=visitors), version, True)
            events = Event.objects.filter(visitor_id__in=visitors, is_bot=False).order_by("id")
            for chunk in _chunks(events.values(*EVENT_FIELDS).iterator(self.batch), self.batch):
                self.send_events(chunk, version, tombstones=True)
        return len(changes), self._settled(changes, lambda c: c["at"]), len(changes) == self.batch

    def _insert(self, name: str, columns) -> str:
        return schema.insert_sql(self.settings.database, name, self.settings.cluster, columns)


def _chunks(rows, size: int):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _now() -> int:
    """Later shipments replace earlier ones: the version of a row is when it was sent (µs)."""
    return time.time_ns() // 1000


# --- wiring ----------------------------------------------------------------------------------


def on_stitched(visitor: Visitor, events: list[Event], joined: bool, **_) -> None:
    """Reactor (reactions.STITCHED), in the stitch's transaction: a visitor that joined a lead,
    or whose anonymous events became the lead's, is shipped again under the lead. A visitor
    identified again by the lead it has is not (the tracking API may say so on every page)."""
    if configured() is not None and (joined or events):
        IdentityChange.objects.create(visitor_id=visitor.pk)


def ship_round() -> int:
    """The worker's turn: ship what is new; ClickHouse being down never stops the worker."""
    settings = configured()
    if settings is None:
        return 0
    try:
        return Shipper(settings).sync().total()
    except WarehouseError as exc:
        logger.warning("shipping to ClickHouse paused: %s", exc)
        return 0


def wire() -> None:
    from yesladder.automation import worker

    worker.register("clickhouse", lambda: django_settings.CLICKHOUSE_SHIP_SECONDS, ship_round)
