"""What a load balancer, Prometheus and `check --deploy` ask of a running installation: is the
database there and migrated, is the worker going round, how old is the oldest email waiting,
how far behind is the analytics store. Read from the database, so any web process answers for
all of them."""

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Min
from django.utils import timezone

from yesladder.automation import worker
from yesladder.automation.models import HookDelivery, Message
from yesladder.operations.models import Heartbeat

BEAT_SECONDS = 10
# A worker that has not gone round for this long is late: a round that takes longer than a
# minute is stuck on something (a mail server that does not answer, a lock).
WORKER_LATE_SECONDS = 60


def beat() -> int:
    """The worker's tick (a job of its loop). Returns 0: a beat is not work, and `worker --once`
    goes on only while rounds find work."""
    now = timezone.now()
    if not Heartbeat.objects.filter(name="worker").update(at=now, by=worker.WORKER):
        Heartbeat.objects.update_or_create(name="worker", defaults={"at": now, "by": worker.WORKER})
    return 0


_migrated = False


def migrations_applied() -> bool:
    """True once nothing is left to apply; kept per process from then on (a new release with new
    migrations comes with a restart)."""
    global _migrated
    if not _migrated:
        executor = MigrationExecutor(connection)
        _migrated = not executor.migration_plan(executor.loader.graph.leaf_nodes())
    return _migrated


@dataclass(frozen=True)
class Queue:
    due: int  # waiting and due now
    oldest_seconds: float | None  # how long the longest-waiting one has been due
    dead: int


@dataclass(frozen=True)
class Vitals:
    at: dt.datetime
    worker_tick: dt.datetime | None
    emails: Queue
    webhooks: Queue
    store_lag_seconds: float | None  # None: no store configured, or caught up

    @property
    def worker_seconds(self) -> float | None:
        return None if self.worker_tick is None else (self.at - self.worker_tick).total_seconds()

    @property
    def worker_late(self) -> bool:
        return self.worker_seconds is None or self.worker_seconds > WORKER_LATE_SECONDS


def vitals(now: dt.datetime | None = None) -> Vitals:
    """A handful of indexed reads (the queues' (state, due_at) index); raises DatabaseError."""
    now = now or timezone.now()
    tick = Heartbeat.objects.filter(name="worker").values_list("at", flat=True).first()
    return Vitals(
        at=now, worker_tick=tick, emails=_queue(Message, now),
        webhooks=_queue(HookDelivery, now), store_lag_seconds=_store_lag(),
    )  # fmt: skip


def _queue(model, now: dt.datetime) -> Queue:
    due = model.objects.filter(state=model.State.QUEUED, due_at__lte=now).aggregate(
        n=Count("pk"), oldest=Min("due_at")
    )
    dead = model.objects.filter(state=model.State.DEAD).count()
    oldest = (now - due["oldest"]).total_seconds() if due["oldest"] else None
    return Queue(due=due["n"], oldest_seconds=oldest, dead=dead)


def _store_lag() -> float | None:
    if settings.CLICKHOUSE is None:
        return None
    from yesladder.warehouse.services import status

    return status().behind_seconds


def readiness(now: dt.datetime | None = None) -> tuple[bool, dict]:
    """What /readyz answers: ready when the database answers and is migrated. The worker and the
    queues are reported, not judged: a late worker must not take the pages out of a load
    balancer, which would stop the visitors too; Prometheus alerts on it instead."""
    try:
        connection.ensure_connection()
        if not migrations_applied():  # the tables the rest reads may not exist yet
            return False, {"ready": False, "database": "ok",
                           "migrations": "pending: run `yesladder migrate`"}  # fmt: skip
        found = vitals(now)
    except DatabaseError as exc:
        return False, {"ready": False, "database": "unreachable", "error": type(exc).__name__}
    body = {
        "ready": True,
        "database": "ok",
        "migrations": "applied",
        "worker": {"last_tick_seconds_ago": _round(found.worker_seconds),
                   "late": found.worker_late},
        "emails": _queue_body(found.emails),
        "webhooks": _queue_body(found.webhooks),
    }  # fmt: skip
    if settings.CLICKHOUSE is not None:
        body["store"] = {"lag_seconds": _round(found.store_lag_seconds) or 0}
    return True, body


def _queue_body(queue: Queue) -> dict:
    return {"due": queue.due, "oldest_due_seconds": _round(queue.oldest_seconds),
            "dead": queue.dead}  # fmt: skip


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)
