"""The browser's import, in the background: the request that confirms a dry run stores its plan
(the good rows, checked, as JSON beside the staged file) and an ImportRun, then the worker
(`seams.JOBS`, "imports") stores the rows in chunks, each chunk committed with the run's count,
so the page's bar moves and a worker that stops halfway leaves a run the next one continues.

A run is claimed like the outbox's messages (SKIP LOCKED on PostgreSQL, the IMMEDIATE
transaction on SQLite) and held by a lease; a chunk is committed only while its worker still
holds the run at the count it started from, so two workers never store the same chunk twice
(and a chunk stored again would change nothing: the import is idempotent by email)."""

import datetime as dt
import json
import logging
import time

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from yesladder.automation.worker import WORKER
from yesladder.dashboard import imports
from yesladder.dashboard.imports import Imported, Plan, Refused, Row
from yesladder.dashboard.models import ImportRun
from yesladder.team.audit import Actor

logger = logging.getLogger(__name__)

EVERY_SECONDS = 1.0  # how often the worker looks for a run
ROUND_SECONDS = 2.0  # then the rest of the worker's round gets its turn
LEASE_SECONDS = 120  # a run whose worker went silent this long is taken by another
ATTEMPTS = 3  # a run that failed this often stays failed
RETRY_SECONDS = 60
SHOWN_BAD_ROWS = 200
KEPT_HOURS = imports.STAGED_HOURS  # a finished run's refused rows (they may hold addresses)
State = ImportRun.State


class Lost(Exception):
    """Another worker holds the run now: this chunk is rolled back."""


def queue(plan: Plan, token: str, consent: str, tag: str, by: Actor) -> ImportRun:
    """The confirmed dry run, for the worker: its plan beside the staged file, which goes."""
    consent, tag = imports.cleaned(consent, tag)
    _forget_old_refusals()
    rows = [[r.line, r.email, r.profile, list(r.tags)] for r in plan.good]
    _plan_file(token).write_text(json.dumps({"name": plan.name, "good": rows}))
    started = ImportRun.objects.create(
        name=plan.name[:255], token=token, consent=consent, tag=tag, by_id=by.user_id,
        actor=by.name[:200], rows_total=len(plan.good), refused=len(plan.bad),
        suppressed=plan.suppressed, bad=[list(b) for b in plan.bad[:SHOWN_BAD_ROWS]],
    )  # fmt: skip
    imports.unstage(token)  # a second click on the same dry run finds it gone
    return started


def work(worker: str = WORKER, seconds: float = ROUND_SECONDS) -> int:
    """The worker's job: claim one run and store its chunks for about `seconds`; returns the
    rows stored (0 when there was nothing to do)."""
    if not _open().filter(_claimable(timezone.now())).exists():  # a read: no write lock
        return 0
    run = claim(worker)
    if run is None:
        return 0
    try:
        good = _good_rows(run.token)
    except Refused as gone:
        _fail(run, worker, str(gone))
        return 1
    deadline, stored = time.monotonic() + seconds, 0
    while run.state == State.RUNNING:
        try:
            stored += _chunk(run, good, worker)
        except Lost:
            return stored
        except Exception as exc:  # a database error: the chunk rolled back; try again later
            logger.exception("import %s failed at row %s", run.pk, run.rows_done)
            _failed_try(run, worker, f"{type(exc).__name__}: {exc}")
            return stored or 1
        if run.state == State.RUNNING and time.monotonic() > deadline:
            _release(run, worker)
            break
    return stored or 1


def claim(worker: str) -> ImportRun | None:
    """The oldest run nobody holds (queued, or its lease ran out), now ours."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _open()
            .filter(_claimable(now))
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("pk", flat=True)[:1]
        )
        if not ids:
            return None
        ImportRun.objects.filter(pk=ids[0]).update(
            state=State.RUNNING, claimed_by=worker, attempts=F("attempts") + 1,
            lease_until=now + dt.timedelta(seconds=LEASE_SECONDS),
        )  # fmt: skip
        return ImportRun.objects.get(pk=ids[0])


def _open():
    return ImportRun.objects.filter(state__in=(State.QUEUED, State.RUNNING))


def _claimable(now) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def _chunk(run: ImportRun, good: list[Row], worker: str) -> int:
    """The next chunk of rows, committed with the run's count; the last one finishes the run
    and writes the audit entry."""
    start = run.rows_done
    rows = good[start : start + imports.CHUNK]
    now = timezone.now()
    last = start + len(rows) >= len(good)
    by = Actor(run.actor, run.by_id)
    with transaction.atomic():
        made, changed, given = imports.store(rows, run.consent, run.tag, run.name, by, now)
        moved = dict(
            rows_done=start + len(rows), created=F("created") + made,
            updated=F("updated") + changed, consents=F("consents") + given,
            lease_until=now + dt.timedelta(seconds=LEASE_SECONDS),
        )  # fmt: skip
        if last:
            moved.update(state=State.DONE, finished_at=now, claimed_by="", lease_until=None)
        mine = ImportRun.objects.filter(pk=run.pk, claimed_by=worker, rows_done=start)
        if not mine.update(**moved):
            raise Lost
        run.refresh_from_db()
        if last:
            imports.record(by, run.name, result(run), run.consent, run.tag)
    if last:
        _plan_file(run.token).unlink(missing_ok=True)
    return len(rows)


def _release(run: ImportRun, worker: str) -> None:
    """Its round is over: the run waits, unheld, for the next round (of any worker)."""
    ImportRun.objects.filter(pk=run.pk, claimed_by=worker, state=State.RUNNING).update(
        claimed_by="", lease_until=None, attempts=F("attempts") - 1
    )


def _failed_try(run: ImportRun, worker: str, error: str) -> None:
    if run.attempts >= ATTEMPTS:
        _fail(run, worker, error)
        return
    ImportRun.objects.filter(pk=run.pk, claimed_by=worker).update(
        error=error[:2000], claimed_by="",
        lease_until=timezone.now() + dt.timedelta(seconds=RETRY_SECONDS),
    )  # fmt: skip


def _fail(run: ImportRun, worker: str, error: str) -> None:
    """Given up: the rows stored so far stay (the page says how many), and the trail says so."""
    with transaction.atomic():
        mine = ImportRun.objects.filter(pk=run.pk, claimed_by=worker)
        if not mine.update(state=State.FAILED, error=error[:2000], claimed_by="",
                           lease_until=None, finished_at=timezone.now()):  # fmt: skip
            return
        run.refresh_from_db()
        if run.rows_done:
            imports.record(Actor(run.actor, run.by_id), run.name, result(run), run.consent,
                           run.tag, failed=error[:200], stored=run.rows_done)  # fmt: skip
    _plan_file(run.token).unlink(missing_ok=True)


def result(run: ImportRun) -> Imported:
    bad = tuple((line, reason) for line, reason in run.bad)
    return Imported(run.created, run.updated, run.refused, run.consents, run.suppressed, bad)


def _good_rows(token: str) -> list[Row]:
    try:
        saved = json.loads(_plan_file(token).read_text())
    except (OSError, ValueError):
        raise Refused(
            "the checked file of this import is gone from the data directory; upload it "
            "again (rows stored already are updated, not doubled)"
        ) from None
    return [Row(line, email, profile, tuple(tags)) for line, email, profile, tags in saved["good"]]


def _plan_file(token: str):
    if not imports.TOKEN.fullmatch(token):
        raise Refused("not an import's token")
    return imports.staging() / f"{token}.plan.json"


def _forget_old_refusals() -> None:
    old = timezone.now() - dt.timedelta(hours=KEPT_HOURS)
    ImportRun.objects.filter(finished_at__lt=old).exclude(bad=[]).update(bad=[])
