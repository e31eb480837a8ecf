"""The worker loop: django-tasks' database worker for the queued tasks (sending messages),
plus the clock of automation (waits, timed triggers, reminders, stale claims), CRM webhook
deliveries and due charges. `yesladder worker` runs it; `yesladder serve` starts one beside
itself when the database is the embedded SQLite file, so the demo needs one command."""

import datetime as dt
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from yesladder.automation import engine, tasks

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0
CHARGES_SECONDS = 60.0
PRUNE_SECONDS = 600.0
TASKS_PER_ROUND = 200
KEEP_RESULTS = dt.timedelta(days=1)


class Loop:
    def __init__(self, worker_id: str = tasks.WORKER):
        self.worker_id = worker_id
        self.due = {"tick": 0.0, "charges": 0.0, "prune": 0.0}

    def round(self) -> int:
        """One pass over everything due; returns how much work it found."""
        close_old_connections()
        done = 0
        if self._time_for("tick", TICK_SECONDS):
            done += engine.tick().total() + self._hooks()
        if self._time_for("charges", CHARGES_SECONDS):
            done += self._charges()
        if self._time_for("prune", PRUNE_SECONDS):
            prune_task_results()
        done += self._tasks()
        close_old_connections()
        return done

    def forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        pause = settings.WORKER_INTERVAL_MS / 1000
        while not stop.is_set():
            try:
                busy = self.round()
            except Exception:  # a locked database or a bug in one round must not stop the mail
                logger.exception("worker round failed; trying again")
                busy = 0
            if not busy:
                stop.wait(pause)

    def until_idle(self, rounds: int = 1000) -> int:
        """Rounds until nothing is due (`worker --once`, tests); returns the work done."""
        total = 0
        for _ in range(rounds):
            self.due = dict.fromkeys(self.due, 0.0)
            done = self.round()
            total += done
            if not done:
                break
        return total

    def _time_for(self, what: str, every: float) -> bool:
        now = time.monotonic()
        if now < self.due[what]:
            return False
        self.due[what] = now + every
        return True

    def _tasks(self) -> int:
        if not DBTaskResult.objects.ready().exists():  # a read: idle polls take no write lock
            return 0
        worker = Worker(
            queue_names=["default"], interval=0, batch=True, backend_name="default",
            startup_delay=False, max_tasks=TASKS_PER_ROUND, worker_id=self.worker_id,
            excluded_queue_names=[],
        )  # fmt: skip
        worker.run()
        return worker._run_tasks

    def _hooks(self) -> int:
        from yesladder.automation import hooks

        return hooks.deliver_due(self.worker_id)

    def _charges(self) -> int:
        from yesladder.offers.services import collect_due

        collected = collect_due()
        return collected.paid + collected.failed


def prune_task_results(now: dt.datetime | None = None) -> None:
    """Finished task rows are bookkeeping; the outbox keeps the history that matters. A task
    a killed worker left running is marked failed (its message was queued again)."""
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    DBTaskResult.objects.filter(status="RUNNING", started_at__lt=now - lease).update(
        status="FAILED", finished_at=now
    )
    DBTaskResult.objects.filter(
        status__in=["SUCCESSFUL", "FAILED"], finished_at__lt=now - KEEP_RESULTS
    ).delete()
