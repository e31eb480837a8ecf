"""Threats 8 and 9: 1,000 due messages, two `yesladder worker` processes, one of them killed with
SIGKILL at random moments and started again, several times. Every message reaches the SMTP
server, none reaches an address suppressed after it was queued, and nothing is lost. And four
workers started at once on the same backlog send each message exactly once.

SMTP gives no way to learn whether a server that was cut off mid-reply kept the message, so a
message whose worker died in that instant is sent again, with the same Message-ID (mailbox
providers show one). The test counts such copies and bounds them by the number of kills.

Runs on the embedded default, and on PostgreSQL when the suite does (a database of its own,
since the workers are separate processes)."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from functools import partial

import pytest

from tests.conftest import Inbox

MESSAGES, SUPPRESSED, KILLS = 1000, 50, 6
STALL = 60  # seconds without one message leaving the queue: far beyond a lease (3 s) and a kill
SETUP = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django.db import transaction
    from yesladder.automation import outbox
    from yesladder.automation.models import Suppression, email_hash
    from yesladder.leads.models import Lead
    with transaction.atomic():
        for n in range({messages}):
            lead = Lead.objects.create(email=f"lead{{n}}@example.com")
            draft = outbox.Draft(key=f"chaos:{{n}}", to=lead.email, subject=f"Tip {{n}}",
                                 text="A tip.", html="<p>A tip.</p>", template="tip",
                                 marketing=True)
            outbox.enqueue(draft, lead=lead)
    # Unsubscribed after the decision, before the send: the worker must check again.
    for n in range({suppressed}):
        Suppression.objects.create(email_hash=email_hash(f"lead{{n}}@example.com"),
                                   reason="unsubscribed")
    """
).format(messages=MESSAGES, suppressed=SUPPRESSED)


@pytest.fixture
def database(tmp_path):
    """Environment for the child processes, and a function that runs a query on their database."""
    url = os.environ.get("DATABASE_URL", "")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(YESLADDER_HOME=str(tmp_path), DJANGO_SETTINGS_MODULE="yesladder.settings")
    if not url:
        path = tmp_path / "yesladder.sqlite3"
        yield env, lambda sql: _rows(sqlite3.connect(path), sql)
        return
    import psycopg

    # Named after the suite's database, so two suites on one server never share it.
    base, name = url.rsplit("/", 1)
    chaos_name = f"{name}_chaos"
    chaos = f"{base}/{chaos_name}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{chaos_name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{chaos_name}"')
    env["DATABASE_URL"] = chaos
    yield env, lambda sql: _rows(psycopg.connect(chaos), sql)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{chaos_name}" WITH (FORCE)')


def _rows(connection, sql: str) -> list[tuple]:
    with connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def counts(query) -> dict[str, int]:
    """Messages by state."""
    return dict(query("SELECT state, COUNT(*) FROM automation_message GROUP BY state"))


@pytest.fixture
def mail_server():
    from aiosmtpd.controller import Controller

    from yesladder.localserver import free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def drain(states, between) -> None:
    """Call `between` until no message waits. The limit is on a stall, not on the whole run:
    on a loaded machine the backlog takes minutes, but workers that lose nothing keep moving."""
    remaining, moved_at = None, time.monotonic()
    while left := states().get("queued", 0) + states().get("sending", 0):
        if left != remaining:
            remaining, moved_at = left, time.monotonic()
        assert time.monotonic() - moved_at < STALL, f"{left} messages stuck for {STALL} s"
        between()


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "yesladder.cli", "worker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_sigkilled_workers_lose_nothing_and_skip_the_suppressed(database, mail_server):
    env, query = database
    states = partial(counts, query)
    inbox, port = mail_server
    env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port), YESLADDER_OUTBOX_LEASE_SECONDS="3",
               YESLADDER_WORKER_INTERVAL_MS="50")  # fmt: skip
    subprocess.run([sys.executable, "-c", SETUP], env=env, check=True, timeout=300)  # noqa: S603
    assert states() == {"queued": MESSAGES}

    chance = random.Random(os.environ.get("CHAOS_SEED", "8"))
    workers = [start_worker(env), start_worker(env)]
    kills = 0

    def kill_now_and_then() -> None:
        nonlocal kills
        time.sleep(chance.uniform(0.2, 1.2))
        if kills < KILLS:
            victim = chance.randrange(2)
            workers[victim].send_signal(signal.SIGKILL)  # mid-claim, mid-send, mid-mark
            workers[victim].wait(timeout=10)
            workers[victim] = start_worker(env)
            kills += 1

    try:
        drain(states, kill_now_and_then)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)

    assert kills == KILLS
    assert states() == {"sent": MESSAGES - SUPPRESSED, "skipped": SUPPRESSED}
    copies = Counter(m["Message-ID"] for m in inbox.messages)
    recipients = {m["To"] for m in inbox.messages}
    assert len(copies) == MESSAGES - SUPPRESSED  # every message arrived
    assert not recipients & {f"lead{n}@example.com" for n in range(SUPPRESSED)}
    repeated = sum(count - 1 for count in copies.values())
    print(f"{kills} kills: {len(copies)} messages arrived, {repeated} repeated copies")
    assert repeated <= kills, f"{repeated} repeated copies after {kills} kills"


def test_four_workers_at_once_send_each_message_exactly_once(database, mail_server):
    """Threat 9 (schedulers that overlap): four workers claim from the same due backlog."""
    env, query = database
    states = partial(counts, query)
    inbox, port = mail_server
    env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(port), YESLADDER_WORKER_INTERVAL_MS="20")
    subprocess.run([sys.executable, "-c", SETUP], env=env, check=True, timeout=300)  # noqa: S603
    workers = [start_worker(env) for _ in range(4)]
    try:
        drain(states, lambda: time.sleep(0.2))
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(timeout=10)

    assert states() == {"sent": MESSAGES - SUPPRESSED, "skipped": SUPPRESSED}
    copies = Counter(m["Message-ID"] for m in inbox.messages)
    assert len(copies) == MESSAGES - SUPPRESSED and set(copies.values()) == {1}
    claimers = query(
        "SELECT COUNT(DISTINCT claimed_by) FROM automation_message WHERE claimed_by <> ''"
    )
    assert (
        claimers[0][0] >= 2
    )  # they did race (a fast one may empty the queue before the last starts)
