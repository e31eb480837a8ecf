"""Backups that restore (issue 34), on the embedded SQLite file and on PostgreSQL (when the
suite runs there: databases of their own, since the server and the commands are separate
processes).

A backup taken while visitors opt in through a real `yesladder serve` restores with every
opt-in acknowledged before it started, and passes the checks; a restore never overwrites
data; a damaged or cut backup is refused; a full disk leaves no half file; the worker takes
backups on a schedule and keeps the newest few."""

import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest
import time_machine

from yesladder.localserver import local_server

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "solo-ad.yaml"


class Installation:
    """One data directory and its database, used by child processes as an operator would."""

    def __init__(self, home: Path, database_url: str):
        self.home, self.database_url = home, database_url
        self.env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.env.update(YESLADDER_HOME=str(home), DATABASE_URL=database_url,
                        PYTHONUNBUFFERED="1")  # fmt: skip

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "yesladder.cli", *args], env=self.env,  # noqa: S603
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def query(self, sql: str) -> list[tuple]:
        if not self.database_url:
            with sqlite3.connect(self.home / "yesladder.sqlite3") as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.database_url) as db:
            return [tuple(row) for row in db.execute(sql).fetchall()]


@pytest.fixture
def installations(tmp_path):
    """A source and an empty target, on the engine the suite runs on."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        yield Installation(tmp_path / "source", ""), Installation(tmp_path / "target", "")
        return
    import psycopg

    base, _, name = url.rpartition("/")
    names = [f"{name}_backup_source", f"{name}_backup_target"]
    maintenance = f"{base}/postgres"  # the suite's own database may not exist outside a test
    with psycopg.connect(maintenance, autocommit=True) as admin:
        for db in names:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {db}")
    yield (Installation(tmp_path / "source", f"{base}/{names[0]}"),
           Installation(tmp_path / "target", f"{base}/{names[1]}"))  # fmt: skip
    with psycopg.connect(maintenance, autocommit=True) as admin:
        for db in names:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def opt_in(base: str, email: str) -> bool:
    """A visitor's opt-in through the page, as a browser posts it; True once acknowledged
    (the page moved on to the next step, which it does after the commit)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
    with opener.open(f"{base}/f/solo-ad/optin/", timeout=30) as page:  # noqa: S310 (loopback)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode())
        url = page.url
    body = urlencode({"csrfmiddlewaretoken": token.group(1), "email": email}).encode()
    request = urllib.request.Request(url, data=body, headers={"Referer": url})  # noqa: S310
    with opener.open(request, timeout=30) as answer:  # noqa: S310
        return answer.url.endswith("/freebie/")


def test_a_backup_taken_while_visitors_opt_in_restores_every_acknowledged_opt_in(
    installations, tmp_path
):
    source, target = installations
    source.run("migrate", "-v0")
    source.run("load", str(EXAMPLE))
    acknowledged: list[tuple[float, str]] = []
    stop = threading.Event()

    def visitor(number: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            email = f"v{number}-{n}@example.com"
            if opt_in(base, email):
                acknowledged.append((time.monotonic(), email))

    env = {**source.env, "YESLADDER_RATE_LIMITS": "false"}
    with local_server(env, threads=4, follow_ups=False) as base:
        visitors = [threading.Thread(target=visitor, args=(n,)) for n in range(3)]
        for thread in visitors:
            thread.start()
        try:
            while len(acknowledged) < 20:
                time.sleep(0.05)
            started = time.monotonic()
            written = source.run("backup", "--to", str(tmp_path / "backups"))
            while len(acknowledged) < 40:  # opt-ins go on after the backup too
                time.sleep(0.05)
        finally:
            stop.set()
            for thread in visitors:
                thread.join(timeout=60)
    before = {email for at, email in acknowledged if at < started}
    assert len(before) >= 20
    assert written.stdout.startswith("Wrote "), written.stdout

    (archive,) = (tmp_path / "backups").glob("yesladder-*.tar")
    restored = target.run("restore", str(archive))
    print(restored.stdout)  # the restore's report, shown with -s
    assert "ok: every member matches the manifest's SHA-256" in restored.stdout
    assert re.search(r"ok: rows in all \d+ tables equal the manifest", restored.stdout)
    if not target.database_url:
        assert "ok: SQLite's integrity_check" in restored.stdout
    leads = {email for (email,) in target.query("SELECT email FROM leads_lead")}
    assert before <= leads, f"{len(before - leads)} acknowledged opt-ins were not restored"
    consents = target.query("SELECT COUNT(*) FROM leads_consent")[0][0]
    assert consents >= len(before)
    # The restored installation serves: the data directory and the database work together.
    target.run("migrate", "-v0")
    assert "solo-ad" in target.run("funnels").stdout


def loaded_and_backed_up(source: Installation, folder: Path) -> Path:
    source.run("migrate", "-v0")
    source.run("load", str(EXAMPLE))
    source.run("backup", "--to", str(folder))
    (archive,) = folder.glob("yesladder-*.tar")
    return archive


def test_restore_refuses_a_database_that_holds_data(installations, tmp_path):
    source, _ = installations
    archive = loaded_and_backed_up(source, tmp_path)
    refused = source.run("restore", str(archive), check=False)
    assert refused.returncode == 1
    assert "already holds data: funnels_funnel (1)" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_damaged_or_cut_backup_is_refused_and_nothing_is_restored(installations, tmp_path):
    source, target = installations
    archive = loaded_and_backed_up(source, tmp_path)
    whole = archive.read_bytes()
    damaged = bytearray(whole)
    damaged[_inside_the_largest_member(archive)] ^= 0xFF  # the database's data, not a header
    cases = {
        "damaged.tar": (bytes(damaged), "does not match its checksum"),
        "cut.tar": (whole[: len(whole) // 2], "cut short or damaged"),
        "empty.tar": (b"", "cut short or damaged"),
        "not-a-backup.tar": (b"hello, I am not a tar file" * 100, "cut short or damaged"),
    }
    for name, (data, said) in cases.items():
        (tmp_path / name).write_bytes(data)
        refused = target.run("restore", str(tmp_path / name), check=False)
        assert refused.returncode == 1, name
        assert said in refused.stderr, (name, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert not (target.home / "assets").exists()
    if target.database_url:
        assert target.query("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    else:
        assert not (target.home / "yesladder.sqlite3").exists()


def _inside_the_largest_member(archive: Path) -> int:
    with tarfile.open(archive) as tar:
        largest = max(tar.getmembers(), key=lambda member: member.size)
    return largest.offset_data + largest.size // 2


@pytest.fixture
def small_disk(tmp_path):
    """A real file system of a given size (tmpfs); needs root, as CI has."""
    mounted = []

    def make(size_kb: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs",  # noqa: S607
                               str(where)], capture_output=True)  # fmt: skip
        if done.returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)  # noqa: S607


def test_a_full_disk_fails_cleanly_and_leaves_no_half_file(tmp_path, small_disk):
    """Too small for the database's copy, then big enough for the copy but not for the file."""
    source = Installation(tmp_path / "source", "")  # what fills the disk is the same on both
    source.run("migrate", "-v0")
    source.run("load", str(EXAMPLE))
    size_kb = (source.home / "yesladder.sqlite3").stat().st_size // 1024
    for disk_kb in (size_kb // 2, size_kb + size_kb // 2):
        disk = small_disk(disk_kb)
        failed = source.run("backup", "--to", str(disk), check=False)
        assert failed.returncode == 1
        assert "is full" in failed.stderr and "nothing half-written was left" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert list(disk.iterdir()) == [], "a partial file or a work folder was left behind"


@pytest.mark.django_db(transaction=True)
def test_the_worker_backs_up_on_a_schedule_and_keeps_the_newest(settings, tmp_path, monkeypatch):
    from yesladder import seams
    from yesladder.automation import worker
    from yesladder.operations import backup

    # What the app registers at start when YESLADDER_BACKUP_EVERY is set.
    monkeypatch.setitem(seams.JOBS.entries, "backup", seams.Job(60, backup.scheduled))
    settings.BACKUP_DIR, settings.BACKUP_EVERY, settings.BACKUP_KEEP = tmp_path, 3600, 2
    first = dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.UTC)  # a Sunday of a DST change in Europe
    taken = []
    for minutes in (0, 30, 61, 122, 130, 183):
        with time_machine.travel(first + dt.timedelta(minutes=minutes), tick=False):
            backup.scheduled()
            taken.append([p.name for _, p in backup.backups()])
    assert taken == [
        ["yesladder-20270328T003000Z.tar"],
        ["yesladder-20270328T003000Z.tar"],  # younger than an hour: none
        ["yesladder-20270328T003000Z.tar", "yesladder-20270328T013100Z.tar"],
        ["yesladder-20270328T013100Z.tar", "yesladder-20270328T023200Z.tar"],  # two kept
        ["yesladder-20270328T013100Z.tar", "yesladder-20270328T023200Z.tar"],
        ["yesladder-20270328T023200Z.tar", "yesladder-20270328T033300Z.tar"],
    ]
    # `worker --once` (cron) runs the same job and takes none while the newest is young.
    with time_machine.travel(first + dt.timedelta(minutes=190), tick=False):
        worker.Loop().until_idle()
    assert len(backup.backups()) == 2
