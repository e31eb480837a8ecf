"""Database chores the commands share."""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.management import call_command


def migrate_embedded() -> None:
    """On the embedded default the tables are created or updated without being asked."""
    if settings.EMBEDDED:
        call_command("migrate", interactive=False, verbosity=0)


_writer = threading.Lock()
_lock_file: dict[int, object] = {}  # by process id: a forked child must open its own


@contextmanager
def one_writer() -> Iterator[None]:
    """On SQLite, let one transaction at a time try to write, across threads and processes.

    SQLite takes one writer anyway; a writer that finds the lock taken sleeps in SQLite's busy
    handler (1, 2, 5 ... 100 ms) and retries, which is what makes p99 latency climb under load.
    Waiting on a lock instead wakes the next writer the moment the last one commits. A thread
    lock orders the threads of a process; flock(2) on a file in the data directory orders the
    processes. PostgreSQL has row locks and needs none of this."""
    if not settings.EMBEDDED:
        yield
        return
    with _writer:
        pid = os.getpid()
        if pid not in _lock_file:
            _lock_file[pid] = open(settings.HOME / "writer.lock", "a")  # noqa: SIM115 (kept open)
        fcntl.flock(_lock_file[pid], fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(_lock_file[pid], fcntl.LOCK_UN)
