"""The browser's import in the background: the page queues the checked file, the worker stores
it in chunks (each committed with the run's count), the page and its JSON follow it, and the
result is shown when it is done. Two workers never store the same run at once, a worker gone
silent leaves a run the next one continues, a failing run is tried again then given up, and
only those who may import see a run."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tests.staff import member
from tests.test_lead_list import csv_bytes, upload
from yesladder import seams
from yesladder.automation import worker
from yesladder.dashboard import importruns, imports, privacy
from yesladder.dashboard.models import ImportRun
from yesladder.leads.models import Consent, Lead
from yesladder.team.models import AuditEntry

pytestmark = pytest.mark.django_db

T = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def owner() -> Client:
    client = Client()
    client.force_login(member("olga", "owner"))
    return client


def rows(n: int, bad: int = 0) -> bytes:
    """`n` good rows (one with a hostile name), then `bad` invalid addresses (the second one
    hostile)."""
    lines = [["email", "name"]] + [[f"p{i}@example.com", HOSTILE if i == 3 else f"P{i}"]
                                   for i in range(n)]  # fmt: skip
    wrong = [HOSTILE if i == 1 else f"bad{i}-at-example.com" for i in range(bad)]
    return csv_bytes(lines + [[email, "x"] for email in wrong])


def start(client: Client, data: bytes, consent: str = "Fair 2026", tag: str = "fair") -> str:
    """Dry run, then confirm: the address of the run's page."""
    dry = upload(client, data, name="fair.csv", consent=consent, tag=tag)
    assert dry.status_code == 200, dry.content.decode()[:500]
    form = {"token": dry.context["run"]["token"].value(), "name": "fair.csv", "consent": consent,
            "tag": tag, "step": "import", "col0": "email", "col1": "profile:name"}  # fmt: skip
    started = client.post("/dashboard/leads/import/", form)
    assert started.status_code == 302
    return started["Location"]


def test_the_page_starts_an_import_the_worker_stores_it_and_the_page_follows(owner):
    page = start(owner, rows(1200, bad=2))
    run = ImportRun.objects.get()
    assert page == f"/dashboard/leads/import/{run.pk}/"
    assert (run.state, run.rows_total, run.refused, run.actor) == ("queued", 1200, 2, "olga")
    assert not Lead.objects.exists()
    waiting = owner.get(page).content.decode()
    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert 'id="import-progress" max="1200" value="0"' in waiting
    assert "Waiting for the worker" in waiting
    # One worker round of no time at all stores one chunk, committed with the count.
    assert importruns.work(seconds=0) == imports.CHUNK
    progress = owner.get(f"{page}progress.json").json()
    asked = ("state", "rows_done", "rows_total", "percent", "finished")
    assert [progress[k] for k in asked] == ["running", 500, 1200, 41, False]
    assert Lead.objects.count() == 500 and not AuditEntry.objects.filter(action="leads.import")
    assert 'value="500"' in owner.get(page).content.decode()
    assert importruns.work(seconds=60) == 700  # the rest, in the next round
    done = owner.get(page).content.decode()
    assert "http-equiv" not in done and "<strong>1200</strong> new" in done
    assert "<strong>2</strong> rows refused" in done and "bad0-at-example.com" in done
    assert HOSTILE not in done and "&lt;script&gt;" in done
    assert owner.get(f"{page}progress.json").json()["finished"] is True
    assert Lead.objects.count() == 1200 and Consent.objects.count() == 1200
    assert Lead.objects.get(email="p3@example.com").profile == {"name": HOSTILE}
    entry = AuditEntry.objects.get(action="leads.import")
    assert (entry.actor, entry.after["created"], entry.after["refused"]) == ("olga", 1200, 2)
    assert importruns.work() == 0  # nothing left
    assert not list(imports.staging().glob(f"{run.token}*"))  # the file and its plan are gone
    listed = owner.get("/dashboard/leads/import/").content.decode()
    assert f'href="{page}"' in listed and "fair.csv</a>: done, 1200 of 1200 rows" in listed


def test_the_worker_s_round_runs_the_import_job(owner, monkeypatch):
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)  # the test's transaction
    assert seams.JOBS.get("imports") == seams.Job(importruns.EVERY_SECONDS, importruns.work)
    start(owner, rows(10))
    worker.Loop("test-worker").until_idle()
    assert ImportRun.objects.get().state == "done" and Lead.objects.count() == 10


def test_a_run_is_held_by_one_worker_and_continued_after_a_silent_one(owner):
    with time_machine.travel(T, tick=False):
        start(owner, rows(1200))
        run = importruns.claim("first")
        assert run is not None and importruns.claim("second") is None
        assert importruns.work("second") == 0  # held: the second worker leaves it
        importruns._chunk(run, importruns._good_rows(run.token), "first")
    # The first worker goes silent past its lease: the second takes the run at its count.
    later = T + dt.timedelta(seconds=importruns.LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        taken = importruns.claim("second")
        assert (taken.claimed_by, taken.rows_done, taken.attempts) == ("second", 500, 2)
        with pytest.raises(importruns.Lost):  # the first wakes up: its chunk is rolled back
            importruns._chunk(run, importruns._good_rows(run.token), "first")
        assert Lead.objects.count() == 500
        importruns._release(taken, "second")
        assert importruns.work("second", seconds=60) == 700
    assert ImportRun.objects.get().state == "done" and Lead.objects.count() == 1200
    assert ImportRun.objects.get().created == 1200  # no chunk counted twice


def test_a_failing_run_is_tried_again_then_given_up_and_says_how_far_it_got(owner, monkeypatch):
    page = start(owner, rows(700))
    with time_machine.travel(T, tick=False):
        assert importruns.work(seconds=0) == 500
        stored = imports.store

        def broken(rows, *args):
            raise RuntimeError("disk full")

        monkeypatch.setattr(imports, "store", broken)
        importruns.work()  # a try fails: the chunk rolled back, the run waits a minute
        run = ImportRun.objects.get()
        assert (run.state, run.rows_done, run.error) == ("running", 500, "RuntimeError: disk full")
        assert importruns.work() == 0 and "disk full" in owner.get(page).content.decode()
    for minutes in (2, 4, 6):
        with time_machine.travel(T + dt.timedelta(minutes=minutes), tick=False):
            importruns.work()
    run = ImportRun.objects.get()
    assert (run.state, run.rows_done) == ("failed", 500) and Lead.objects.count() == 500
    failed = owner.get(page).content.decode()
    assert "failed" in failed and "500 of 700 rows were stored" in failed
    entry = AuditEntry.objects.get(action="leads.import")
    assert entry.after["stored"] == 500 and entry.after["failed"] == "RuntimeError: disk full"
    monkeypatch.setattr(imports, "store", stored)
    assert importruns.work() == 0  # given up stays given up


def test_a_run_whose_plan_is_gone_fails_with_the_reason(owner):
    page = start(owner, rows(3))
    run = ImportRun.objects.get()
    (imports.staging() / f"{run.token}.plan.json").unlink()
    assert importruns.work() == 1
    assert ImportRun.objects.get().state == "failed" and not Lead.objects.exists()
    assert "gone from the data directory" in owner.get(page).content.decode()


def test_a_confirmed_dry_run_is_queued_once(owner):
    dry = upload(owner, rows(3), name="fair.csv")
    form = {"token": dry.context["run"]["token"].value(), "name": "fair.csv", "consent": "",
            "tag": "", "step": "import", "col0": "email", "col1": "ignore"}  # fmt: skip
    assert owner.post("/dashboard/leads/import/", form).status_code == 302
    assert owner.post("/dashboard/leads/import/", form).status_code == 400  # a second click
    assert ImportRun.objects.count() == 1


def test_only_those_who_may_import_start_or_watch_one(owner):
    page = start(owner, rows(3, bad=1))
    for role in ("viewer", "editor"):
        other = Client()
        other.force_login(member(role[:3], role))
        assert other.get(page).status_code == 403
        assert other.get(f"{page}progress.json").status_code == 403
        assert upload(other, rows(2)).status_code == 403
    another = Client()
    another.force_login(member("otto", "owner"))  # owners import, so they see the imports
    assert another.get(page).status_code == 200
    assert owner.get("/dashboard/leads/import/999/").status_code == 404
    assert ImportRun.objects.count() == 1


def test_a_finished_run_s_refused_rows_are_kept_a_day(owner):
    with time_machine.travel(T, tick=False):
        start(owner, rows(2, bad=1))
        importruns.work()
    assert ImportRun.objects.get().bad
    with time_machine.travel(T + dt.timedelta(hours=25), tick=False):
        start(owner, rows(1))
    first = ImportRun.objects.order_by("id").first()
    assert first.bad == [] and first.refused == 1 and first.finished_at < timezone.now()


def test_erasing_a_lead_takes_its_address_off_an_import_s_refused_rows(owner):
    data = csv_bytes([["email", "name"], ["ada@example.com", "Ada"], ["ada@example.com", "A"]])
    start(owner, data)
    importruns.work()
    run = ImportRun.objects.get()
    assert "duplicate in the file: ada@example.com" in run.bad[0][1]
    privacy.erase(Lead.objects.get(email="ada@example.com"))
    run.refresh_from_db()
    assert run.bad == [] and run.refused == 1
