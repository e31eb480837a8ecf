"""The worker loop: the outbox (due messages, claimed in batches), the clock of automation
(waits, timed triggers, reminders, stale claims), CRM webhook deliveries and due charges.
`yesladder worker` runs it; `yesladder serve` starts one beside itself when the database is the
embedded SQLite file, so the demo needs one command. Each queue is a table with a due time and
a claim (docs/decisions.md, "Issue 7")."""

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from yesladder import seams
from yesladder.automation import engine, outbox

logger = logging.getLogger(__name__)

WORKER = f"{socket.gethostname()[:40]}:{os.getpid()}"
TICK_SECONDS = 1.0
CHARGES_SECONDS = 60.0
MESSAGES_PER_CLAIM = 50
MESSAGES_PER_ROUND = 200  # then the tick and the webhooks get their turn
APART_JOIN_SECONDS = 5.0  # how long a stopping worker waits for a job running apart


class Loop:
    def __init__(self, worker_id: str = WORKER):
        self.worker_id = worker_id
        self.due = {"tick": 0.0, "charges": 0.0}
        self.apart = False  # `forever` runs the jobs registered apart in threads of their own
        self._running: dict[str, threading.Thread] = {}

    def round(self) -> int:
        """One pass over everything due; returns how much work it found."""
        close_old_connections()
        done = 0
        if self._time_for("tick", TICK_SECONDS):
            done += engine.tick().total() + self._hooks()
        if self._time_for("charges", CHARGES_SECONDS):
            done += self._charges()
        # Periodic jobs other apps add (the ClickHouse shipping) to seams.JOBS. A job `apart`
        # (one that waits on another server) runs in a thread of its own in `forever`, one run
        # at a time, so it never holds up the mail; `until_idle` runs it in line.
        for name, job in seams.JOBS:
            if job.apart and self.apart:
                running = self._running.get(name)
                if running is not None and running.is_alive():
                    continue  # still at it: the next run starts when it is done
            if not self._time_for(name, job.every() if callable(job.every) else job.every):
                continue
            if job.apart and self.apart:
                self._running[name] = threading.Thread(
                    target=_alone, args=(name, job.run), name=f"yesladder-{name}", daemon=True
                )
                self._running[name].start()
            else:
                done += job.run()
        done += self._outbox()
        close_old_connections()
        return done

    def forever(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        pause = settings.WORKER_INTERVAL_MS / 1000
        self.apart = True
        while not stop.is_set():
            try:
                busy = self.round()
            except Exception:  # a locked database or a bug in one round must not stop the mail
                logger.exception("worker round failed; trying again")
                busy = 0
            if not busy:
                stop.wait(pause)
        for thread in self._running.values():
            thread.join(APART_JOIN_SECONDS)

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
        if now < self.due.get(what, 0.0):
            return False
        self.due[what] = now + every
        return True

    def _outbox(self) -> int:
        sent = 0
        while sent < MESSAGES_PER_ROUND:
            batch = outbox.send_due(self.worker_id, MESSAGES_PER_CLAIM)
            sent += len(batch)
            if len(batch) < MESSAGES_PER_CLAIM:
                break
        return sent

    def _hooks(self) -> int:
        from yesladder.automation import hooks

        return hooks.deliver_due(self.worker_id)

    def _charges(self) -> int:
        from yesladder.offers.services import collect_due

        collected = collect_due()
        return collected.paid + collected.failed


def _alone(name: str, job) -> None:
    """A job apart, in its own thread and with its own database connection (closed after)."""
    try:
        job()
    except Exception:
        logger.exception("worker job %s failed; trying again at its next turn", name)
    finally:
        connections.close_all()  # this thread's connections only
