"""Threat 33: an optional store stalls the primary. A real `yesladder serve` on the embedded
default (its worker shipping every second; on PostgreSQL with a `yesladder worker` beside it)
keeps answering pages, opt-ins and the tracking API while a shard of the store is frozen
(SIGSTOP) or the store's address is ClickHouse's HTTP port; `clickhouse status` says the store
is behind and why; after SIGCONT shipping catches up with every acknowledged event in the store
exactly once.
"""

import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from clickhouse_driver import Client

from tests.conftest import database_of_its_own
from tests.stall_load import Load, cli, prepare
from yesladder.localserver import local_server
from yesladder.warehouse import services
from yesladder.warehouse.config import parse

pytestmark = pytest.mark.django_db(transaction=True)  # the cluster fixture needs `settings`

TIMEOUTS = {"YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT": "1", "YESLADDER_CLICKHOUSE_TIMEOUT": "1.5",
            "YESLADDER_CLICKHOUSE_SHIP_SECONDS": "1"}  # fmt: skip
PROMPT = 3.0  # seconds: before the fix, pages waited for the store (20 s, then timed out)
_names = itertools.count(1)


@pytest.fixture
def primary(tmp_path):
    """The database of the served process (the embedded file, or a PostgreSQL database of its
    own when the tests run on PostgreSQL), and a function that queries it."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        yield "", lambda sql: _rows(sqlite3.connect(tmp_path / "yesladder.sqlite3"), sql)
        return
    import psycopg

    with database_of_its_own(url, "stall") as own:
        yield own, lambda sql: _rows(psycopg.connect(own), sql)


def _rows(connection, sql: str) -> list[tuple]:
    with connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


@contextmanager
def serving(env: dict, served: dict) -> Iterator[str]:
    """`yesladder serve`; on PostgreSQL with a `yesladder worker` beside it (on SQLite serve
    starts its own)."""
    worker = None
    if served.get("DATABASE_URL"):
        worker = subprocess.Popen([sys.executable, "-m", "yesladder.cli", "worker"], env=env,
                                  stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        with local_server(served) as base:
            yield base
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)


def primary_ids(query) -> set[int]:
    return {r[0] for r in query("SELECT id FROM tracking_event WHERE NOT is_bot")}


def shipping_started(query, timeout: float = 60) -> None:
    """The worker has shipped a batch (it takes seconds to start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query("SELECT 1 FROM warehouse_checkpoint WHERE synced_at IS NOT NULL "
                 "AND stream = 'events'"):  # fmt: skip
            return
        time.sleep(0.2)
    raise AssertionError("the worker did not ship within a minute")


def store_ids(cluster, database: str) -> list[int]:
    """Every live event id on every shard (a doubled event would appear twice)."""
    found = []
    for node in cluster.nodes:
        client = Client("127.0.0.1", port=node.tcp_port, connect_timeout=5,
                        send_receive_timeout=30)  # fmt: skip
        sql = f"SELECT event_id FROM {database}.events_local FINAL WHERE deleted = 0"
        found += [r[0] for r in client.execute(sql)]
    return found


def test_a_stalled_store_never_holds_up_pages_or_the_tracking_api(clickhouse_cluster, tmp_path,
                                                                  primary):  # fmt: skip
    database_url, query = primary
    database = f"stall{next(_names)}"
    node, frozen = clickhouse_cluster.nodes[0], clickhouse_cluster.nodes[1]
    store = {"YESLADDER_CLICKHOUSE_URL": f"clickhouse://127.0.0.1:{node.tcp_port}/{database}",
             "YESLADDER_CLICKHOUSE_CLUSTER": clickhouse_cluster.name, **TIMEOUTS}  # fmt: skip
    env, served, key = prepare(tmp_path, store, database_url)
    services.init(parse(store["YESLADDER_CLICKHOUSE_URL"], clickhouse_cluster.name))
    with serving(env, served) as base:
        Load(base, key).run(seconds=1)  # warm: templates, connections
        shipping_started(query)
        before = Load(base, key).run(seconds=2)
        os.kill(frozen.process.pid, signal.SIGSTOP)
        try:
            during = Load(base, key).run(seconds=4)
            status = cli(env, "clickhouse", "status", check=False)
        finally:
            os.kill(frozen.process.pid, signal.SIGCONT)
        print(f"\nwithout the freeze: {before.summary()}\nfrozen shard: {during.summary()}")
        assert not during.failed, during.failed[:5]
        assert max(during.every()) < PROMPT, during.summary()
        assert during.p99() < max(2 * before.p99(), 0.5), (before.summary(), during.summary())
        said = status.stdout + status.stderr
        assert "behind by" in said, said
        assert f"shard 2 (127.0.0.1:{frozen.tcp_port}) is not answering" in said, said

        deadline = time.monotonic() + 30  # the worker catches up: every event once
        while True:
            in_primary = primary_ids(query)
            shipped = store_ids(clickhouse_cluster, database)
            if sorted(shipped) == sorted(in_primary) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert len(shipped) == len(set(shipped)), "an event is in the store twice"
    missing = in_primary - set(shipped)
    assert set(shipped) == in_primary, f"{len(missing)} events not in the store"
    assert len(during.acknowledged) >= 50 and len(in_primary) >= len(during.acknowledged)

    # A typo: the URL names ClickHouse's HTTP port. The same home, the same pages.
    wrong = f"clickhouse://127.0.0.1:{node.http_port}/{database}"
    env["YESLADDER_CLICKHOUSE_URL"] = served["YESLADDER_CLICKHOUSE_URL"] = wrong
    with serving(env, served) as base:
        http = Load(base, key).run(seconds=3)
        status = cli(env, "clickhouse", "status", check=False)
    print(f"store at the HTTP port: {http.summary()}")
    assert not http.failed, http.failed[:5]
    assert max(http.every()) < PROMPT, http.summary()
    assert status.returncode != 0
    assert f"ClickHouse at 127.0.0.1:{node.http_port} speaks HTTP" in status.stderr, status.stderr


def test_the_worker_never_waits_for_a_job_apart(monkeypatch, settings):
    """`yesladder worker` runs shipping in a thread of its own: while it hangs on a socket,
    the worker's other rounds (the outbox, timed automations) go on."""
    import threading

    from django.db import connections

    from yesladder import seams
    from yesladder.automation import worker

    settings.WORKER_INTERVAL_MS = 10
    hung, rounds = threading.Event(), []
    monkeypatch.setattr(seams.JOBS, "entries", {
        "stuck": seams.Job(0.01, lambda: hung.wait(30) and 0, apart=True),
        "counted": seams.Job(0.01, lambda: rounds.append(1) or 0),
    })  # fmt: skip
    stop = threading.Event()

    def forever():
        try:
            worker.Loop().forever(stop)
        finally:
            connections.close_all()  # this thread's

    loop = threading.Thread(target=forever)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while len(rounds) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        hung.set()
        loop.join(30)
    assert len(rounds) >= 20, "the worker waited for the hung job"
