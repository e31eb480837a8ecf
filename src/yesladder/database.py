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
_lane = threading.Lock()


@contextmanager
def one_thread_writing() -> Iterator[None]:
    """On SQLite, run a request that computes and then writes (a tracking batch) alone among the
    threads of its process.

    Threads of one process share one GIL, so two such requests never compute at once anyway;
    what they do at once is worse: the thread that holds the writer lock gives the GIL away at
    every SQLite call and waits up to the switch interval (5 ms) to get it back from a thread
    that is parsing, so the one writer everybody queues on is held twice as long. Processes
    (`serve --workers`) are what computes in parallel, one writing while the others parse.
    PostgreSQL's writers run side by side and its threads overlap their round trips."""
    if not settings.EMBEDDED:
        yield
        return
    with _lane:
        yield


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
