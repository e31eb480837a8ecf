"""Threat 34: a destructive re-ship interrupted (issue 29, item 2). `sync --from-scratch` is
interrupted at every step (faults injected between its steps, a shard frozen in the middle of
it); the next plain `sync` ends with the store equal to the primary database on every shard.
The checkpoint belongs to one store: a new database, tables dropped and made again, or a shard
restored from elsewhere is shipped from the start, with a line saying so; never "caught up"
against a store the checkpoint did not ship to."""

import io
import os
import random
import signal

import pytest
from clickhouse_driver import Client as Native
from django.core.management import CommandError, call_command

from tests.test_warehouse_erasure import shipped_crowd
from yesladder.dashboard.privacy import erase
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event
from yesladder.warehouse import identity
from yesladder.warehouse.client import shards
from yesladder.warehouse.config import parse
from yesladder.warehouse.models import Erasure

pytestmark = pytest.mark.django_db(transaction=True)
STEPS = ["marked", "dropped 1", "dropped 2", "made", "identity", "recorded", "batch shipped"]


class Interrupted(BaseException):
    """Stands for Ctrl+C or SIGKILL at that point: nothing after it runs."""


def native(shard):
    return Native(shard.host, port=shard.port, connect_timeout=5, send_receive_timeout=60)


def live(settings, table: str, column: str) -> list:
    """Every live value of `column` in `table` on every shard (twice if doubled)."""
    found = []
    for shard in shards(settings):
        sql = f"SELECT {column} FROM {settings.database}.{table}_local FINAL WHERE deleted = 0"
        found += [r[0] for r in native(shard).execute(sql)]
    return found


def assert_store_equals_primary(settings) -> None:
    events = live(settings, "events", "event_id")
    primary = set(Event.objects.filter(is_bot=False).values_list("pk", flat=True))
    assert len(events) == len(set(events)), "an event is in the store twice"
    assert set(events) == primary, (len(set(events) - primary), len(primary - set(events)))
    visitors = live(settings, "identities", "visitor")
    assert len(visitors) == len(set(visitors)), "a visitor is in the store twice"
    with_events = {v.hex for v in Event.objects.filter(is_bot=False)
                   .values_list("visitor_id", flat=True)}  # fmt: skip
    every = {v.hex for v in Visitor.objects.values_list("pk", flat=True)}
    assert with_events <= set(visitors) <= every


def sync(*extra) -> str:
    out = io.StringIO()
    call_command("clickhouse", "sync", "--settle", "0", *extra, stdout=out)
    return out.getvalue()


def caught_up(said: str) -> bool:
    return "caught up" in said.splitlines()


def status() -> str:
    out = io.StringIO()
    call_command("clickhouse", "status", stdout=out)
    return out.getvalue()


def shipped_with_an_erasure_waiting(settings, seed: int) -> None:
    """A crowd in the store, and a lead erased in the primary database whose rows are still
    on the shards (its erasure not carried out yet)."""
    _, _, leads = shipped_crowd(settings, seed)
    erase(next(lead for lead in leads if Event.objects.filter(lead=lead).exists()))
    assert Erasure.objects.count() == 1


@pytest.mark.parametrize("step", STEPS)
def test_from_scratch_interrupted_at_any_step_is_finished_by_the_next_sync(
    clickhouse, monkeypatch, step
):
    shipped_with_an_erasure_waiting(clickhouse, seed=21 + STEPS.index(step))

    def reached(at: str) -> None:
        if at == step:
            raise Interrupted(at)

    monkeypatch.setattr(identity, "reached", reached)
    with pytest.raises(Interrupted):
        sync("--from-scratch")
    monkeypatch.undo()
    assert not caught_up(status())
    said = sync()
    if step not in ("recorded", "batch shipped"):
        assert "finished an interrupted `sync --from-scratch`" in said
    assert caught_up(said)
    assert_store_equals_primary(clickhouse)


def test_a_shard_frozen_during_from_scratch(clickhouse_cluster, clickhouse, settings,
                                            monkeypatch):  # fmt: skip
    shipped_with_an_erasure_waiting(clickhouse, seed=31)
    frozen = clickhouse_cluster.nodes[1]
    settings.CLICKHOUSE = parse(f"clickhouse://127.0.0.1:{clickhouse_cluster.nodes[0].tcp_port}/"
                                f"{clickhouse.database}", clickhouse_cluster.name,
                                connect_timeout=1, timeout=1)  # fmt: skip

    def reached(at: str) -> None:  # shard 1 dropped; shard 2 stops answering
        if at == "dropped 1":
            os.kill(frozen.process.pid, signal.SIGSTOP)

    monkeypatch.setattr(identity, "reached", reached)
    try:
        with pytest.raises(CommandError, match=rf"127\.0\.0\.1:{frozen.tcp_port} is not answer"):
            sync("--from-scratch")
    finally:
        os.kill(frozen.process.pid, signal.SIGCONT)
    monkeypatch.undo()
    settings.CLICKHOUSE = clickhouse
    assert not caught_up(status())
    call_command("clickhouse", "init", stdout=io.StringIO())
    assert caught_up(sync())
    assert_store_equals_primary(clickhouse)


def test_a_new_database_is_shipped_from_the_start(clickhouse, settings):
    shipped_crowd(clickhouse, seed=41)
    elsewhere = parse(f"clickhouse://{clickhouse.host}:{clickhouse.port}/{clickhouse.database}"
                      "_new", clickhouse.cluster)  # fmt: skip
    settings.CLICKHOUSE = elsewhere
    call_command("clickhouse", "init", stdout=io.StringIO())
    said = status()
    assert "not caught up: the store carries" in said and not caught_up(said)
    said = sync()
    assert "shipping every event again from the start" in said
    assert_store_equals_primary(elsewhere)


def test_tables_dropped_and_made_again_are_shipped_from_the_start(clickhouse):
    shipped_crowd(clickhouse, seed=42)
    first = shards(clickhouse)[0]
    for table in ("events", "events_local"):
        native(first).execute(f"DROP TABLE {clickhouse.database}.{table}")
    with pytest.raises(CommandError, match="tables missing"):
        sync()
    call_command("clickhouse", "init", stdout=io.StringIO())
    assert "shipping every event again from the start" in sync()
    assert_store_equals_primary(clickhouse)


def test_a_shard_restored_from_elsewhere_starts_again_from_scratch(clickhouse):
    shipped_crowd(clickhouse, seed=43)
    second = shards(clickhouse)[1]
    client = native(second)  # another store's identity, and a row no primary database has
    client.execute(f"INSERT INTO {clickhouse.database}.store_identity VALUES",
                   [("0" * 32, 99, 0)])  # fmt: skip
    stranger = random.randrange(10**9, 10**10)
    client.execute(f"INSERT INTO {clickhouse.database}.events_local (person, event_id, "
                   "shipped) VALUES", [("vstranger", stranger, 1)])  # fmt: skip
    said = sync()
    assert "did not carry one identity" in said and "started again from scratch" in said
    assert stranger not in live(clickhouse, "events", "event_id")
    assert_store_equals_primary(clickhouse)
