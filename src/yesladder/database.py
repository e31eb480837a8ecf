"""Database chores the commands share."""

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, models, transaction

T = TypeVar("T")
M = TypeVar("M", bound=models.Model)


def migrate_embedded() -> None:
    """On the embedded default the tables are created or updated without being asked."""
    if settings.EMBEDDED:
        call_command("migrate", interactive=False, verbosity=0)


def only_row(model: type[M], **equal) -> M | None:
    """The one row whose fields equal these values (a key, or a unique set of fields), read by
    a plain statement: for the lookups every page makes, the ORM building the same SQL again
    on each request cost three times the read itself."""
    fields = [model._meta.get_field(name) for name in equal]
    sql = _select_where(model, tuple(field.column for field in fields))
    values = [
        field.get_db_prep_value(v, connection)
        for field, v in zip(fields, equal.values(), strict=True)
    ]
    return next(iter(model.objects.raw(sql, values)), None)


@cache
def _select_where(model: type[models.Model], columns: tuple[str, ...]) -> str:
    quote = connection.ops.quote_name
    where = " AND ".join(f"{quote(column)} = %s" for column in columns)
    return f"SELECT * FROM {quote(model._meta.db_table)} WHERE {where} LIMIT 1"  # noqa: S608


_writer = threading.RLock()  # a transaction of the group commit's writer takes it again
_lock_file: dict[int, object] = {}  # by process id: a forked child must open its own
_lane = threading.Lock()


@contextmanager
def one_thread_writing() -> Iterator[None]:
    """On SQLite, let one tracking request at a time compute among the threads of its process
    (read, validate and prepare its messages; it then writes with `write_together`).

    Threads of one process share one GIL, so two such requests never compute at once anyway;
    what they do at once is worse: the thread that holds the writer lock gives the GIL away at
    every SQLite call and waits up to the switch interval (5 ms) to get it back from a thread
    that is parsing. One thread computing at a time bounds that wait by one request's work,
    while the writer writes the group that queued meanwhile. Processes (`serve --workers`) are
    what computes in parallel. PostgreSQL's writers run side by side and its threads overlap
    their round trips."""
    if not settings.EMBEDDED:
        yield
        return
    with _lane:
        yield


@dataclass(eq=False)
class _Turn:
    work: Callable[[], object]
    done: bool = False
    result: object = None
    error: BaseException | None = None


_waiting: list[_Turn] = []
_waiting_lock = threading.Lock()


def write_together(work: Callable[[], T]) -> T:
    """Run `work` in a transaction that has committed when this returns: on SQLite, in one
    transaction with the work other threads of this process are waiting to write then (a
    group commit).

    The thread that gets the writer runs every waiting turn, each in a savepoint, so a turn
    that fails fails alone; the others find theirs done when they get the thread lock next,
    without taking the file lock. One BEGIN, one COMMIT and one hand-over of the writer between
    processes then serve the group (docs/benchmarks.md, "The tracking API"). PostgreSQL's
    writers run side by side: there each runs its own transaction. `work` runs in whichever
    thread writes: an on_commit hook it adds must be robust (it runs for the whole group)."""
    if not settings.EMBEDDED:
        with transaction.atomic(durable=True):
            return work()
    turn = _Turn(work)
    with _waiting_lock:
        _waiting.append(turn)
    with _writer:
        if not turn.done:
            with _writers_turn():  # turns are taken only once nothing can stop the write
                with _waiting_lock:
                    turns = _waiting[:]
                    _waiting.clear()
                _write(turns)
    if turn.error is not None:
        raise turn.error
    return turn.result  # type: ignore[return-value]


class GroupNotWritten(DatabaseError):
    """The group's transaction did not commit: nothing of this write was kept; retry it."""


def _write(turns: list[_Turn]) -> None:
    try:
        with transaction.atomic(durable=True):
            for turn in turns:
                _take(turn, savepoint=len(turns) > 1)
                if connection.needs_rollback:  # a failure SQLite rolled back whole, savepoints too
                    raise GroupNotWritten("the transaction broke") from turn.error
    except BaseException as exc:
        for turn in turns:  # each caller raises its own error, in its own thread
            turn.error = turn.error or _not_written(exc)
        if not isinstance(exc, Exception):
            raise
    finally:
        for turn in turns:
            turn.done = True


def _not_written(cause: BaseException) -> GroupNotWritten:
    error = GroupNotWritten(f"the writes waiting with this one were not committed: {cause!r}")
    error.__cause__ = cause
    return error


def _take(turn: _Turn, savepoint: bool) -> None:
    try:
        with transaction.atomic(savepoint=savepoint):
            turn.result = turn.work()
    except Exception as exc:
        turn.error = exc
        if not savepoint:
            raise


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
    with _writers_turn():
        yield


@contextmanager
def _writers_turn() -> Iterator[None]:
    take_the_writers_turn()
    try:
        yield
    finally:
        give_the_writers_turn_back()


_turns_taken = 0  # by the thread holding `_writer`: nested turns hold the file lock once


def take_the_writers_turn() -> None:
    """Wait for the embedded database's one writer: the thread lock orders the threads of this
    process, flock(2) on a file in the data directory the processes. Every transaction on
    SQLite takes it (yesladder.sqlite_backend) before its BEGIN IMMEDIATE, so no writer sleeps
    in SQLite's busy handler (1, 2, 5 ... 100 ms, what made p99 latency climb): the next one
    wakes the moment the last one commits."""
    global _turns_taken
    _writer.acquire()
    if _turns_taken == 0:
        try:
            fcntl.flock(_lock_file_of_this_process(), fcntl.LOCK_EX)
        except BaseException:
            _writer.release()
            raise
    _turns_taken += 1


def give_the_writers_turn_back() -> None:
    global _turns_taken
    _turns_taken -= 1
    if _turns_taken == 0:
        fcntl.flock(_lock_file_of_this_process(), fcntl.LOCK_UN)
    _writer.release()


def _lock_file_of_this_process():
    pid = os.getpid()
    if pid not in _lock_file:
        _lock_file[pid] = open(settings.HOME / "writer.lock", "a")  # noqa: SIM115 (kept open)
    return _lock_file[pid]
