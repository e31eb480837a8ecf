"""The ClickHouse store's faults and edges: ClickHouse down, a shard down, hostile or wrong
ad-hoc input, the CLI, an ad-hoc funnel against the climb of the embedded engine, and the same
SQL on current ClickHouse (chdb)."""

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from tests.clickhouse_fixtures import on_current_clickhouse
from tests.conftest import funnel_dict, sourced_from
from yesladder.analytics.climb import Hit, climb
from yesladder.analytics.progress import person_of
from yesladder.analytics.rules import micros
from yesladder.automation.worker import Loop
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.models import Event
from yesladder.tracking.services import record
from yesladder.warehouse import queries
from yesladder.warehouse.config import ConfigError, parse
from yesladder.warehouse.models import Checkpoint
from yesladder.warehouse.shipping import Shipper
from yesladder.warehouse.store import ClickHouseStore, _read_overview, plan_for

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def version():
    load_funnel(sourced_from(funnel_dict()))
    from yesladder.funnels.models import current_version

    return current_version("clean")


def crowd(version, people=6):
    for i in range(people):
        v = new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "",
                        {"utm_source": f"s{i % 2}"})  # fmt: skip
        for j, step in enumerate(["guide", "checklist", "score"][: 1 + i % 3]):
            record(EventName.STEP_VIEWED, v, version, step, occurred_at=T0 + dt.timedelta(
                minutes=j * (i + 1)))  # fmt: skip
        if i == 4:
            stitch(v, Lead.objects.create(email="x@example.com"))
            record(EventName.OPTED_IN, v, version, "checklist", occurred_at=T0)


def report(*args) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_settings_accept_the_native_and_http_forms_and_name_what_is_wrong():
    assert parse("http://ch.example.com:8123/analytics").where() == "ch.example.com:9000/analytics"
    assert parse("clickhouse://u:p%40ss@h:9001/db", "main").password == "p@ss"
    assert parse("https://h/db?native_port=9441").port == 9441
    for url, part in [
        ("ftp://h/db", "must start with clickhouse://"),
        ("clickhouse:///db", "host"),
        ("clickhouse://h/db;drop", "database"),
        ("clickhouse://h:99999/db", "port"),
    ]:
        with pytest.raises(ConfigError, match=part):
            parse(url)
    with pytest.raises(ConfigError, match="CLUSTER"):
        parse("", "main")


def test_clickhouse_down_leaves_ingestion_alone_and_shipping_resumes(
    clickhouse_cluster, clickhouse, version
):
    crowd(version)
    clickhouse_cluster.stop(1)
    try:
        assert Loop().round() >= 0  # the worker's round goes on; shipping waits
        record(EventName.STEP_VIEWED, new_visitor("x", "", "", {}), version, "guide")  # no wait
        with pytest.raises(CommandError, match=r"shard 2 \(127\.0\.0\.1:\d+\) is not answering"):
            report("clean", "--engine", "clickhouse")
    finally:
        clickhouse_cluster.start(1)
    assert Checkpoint.objects.get(stream="events").error  # why it paused is kept for status
    Shipper(clickhouse, settle=0).sync()
    out = io.StringIO()
    call_command("clickhouse", "status", stdout=out)
    assert "caught up" in out.getvalue()
    text = report("clean", "--engine", "clickhouse", "--format", "json")
    assert '"entered": 7' in text


def test_the_report_says_when_the_store_is_behind(clickhouse, version):
    crowd(version)
    assert "behind the event log" in report("clean", "--engine", "clickhouse")
    call_command("clickhouse", "sync", "--settle", "0", stdout=io.StringIO())
    assert "behind" not in report("clean", "--engine", "clickhouse")


@pytest.mark.parametrize("steps, window, message", [
    ("guide,nowhere", "7d", "'nowhere' is neither a step"),
    ("guide", "7d", "give 2 to 20"),
    ("guide,guide", "7d", "each step once"),
    ("guide,score", "0d", "more than 0"),
    ("guide,score", "7 days", "expected a duration"),
    ("guide,x') OR 1=1; DROP TABLE events_local; --", "7d", "neither a step"),
])  # fmt: skip
def test_bad_adhoc_input_is_refused_by_name(clickhouse, version, steps, window, message):
    with pytest.raises(CommandError, match=message):
        report("clean", "--engine", "clickhouse", "--steps", steps, "--window", window)


def test_adhoc_funnel_counts_what_the_climb_counts(clickhouse, version):
    crowd(version, 12)
    Shipper(clickhouse, settle=0).sync()
    items = ["guide", "score", "opted_in"]
    got = ClickHouseStore(clickhouse).adhoc(version.funnel, items, dt.timedelta(minutes=30))
    people: dict = {}
    for e in Event.objects.filter(funnel_version=version, is_bot=False):
        rung = (items.index(e.step_key) if e.name in queries.ARRIVALS and e.step_key in items
                else items.index(e.name) if e.name in items else None)  # fmt: skip
        if rung is not None:
            people.setdefault(person_of(e), []).append(Hit(micros(e.occurred_at), rung))
    levels = Counter(climb(h, 3, 30 * 60 * 1_000_000).level for h in people.values())
    assert [r.reached for r in got] == [sum(n for lv, n in levels.items() if lv > i)
                                        for i in range(3)]  # fmt: skip
    assert "guide" in report("clean", "--engine", "clickhouse", "--steps", "guide,score",
                             "--window", "30m")  # fmt: skip


def test_the_same_sql_runs_on_current_clickhouse(clickhouse, version):
    """Rows shipped to the 18.16 cluster, copied into chdb (current ClickHouse), answer the
    report's query the same."""
    crowd(version, 10)
    Shipper(clickhouse, settle=0).sync()
    plan = plan_for(version.funnel_id, None)
    sql, params = queries.overview(plan, queries.Filter(), clickhouse.database)
    cluster = ClickHouseStore(clickhouse)._run(sql, params)
    current = on_current_clickhouse(clickhouse, sql, params)
    found = [(*row[:-1], tuple(row[-1])) for row in current]
    assert _summed(found, plan) == _summed(cluster, plan)
    assert _summed(found, plan)[0]  # someone was counted


def _summed(rows, plan):
    """Per level over all shards, with the rungs seen and clicked and the times."""
    tallies, marks, gaps = _read_overview(rows, plan)
    levels = Counter()
    for t in tallies:
        levels[(t.level, "people")] += t.people
        levels[(t.level, "opted")] += t.opted_in
    return levels, marks, gaps
