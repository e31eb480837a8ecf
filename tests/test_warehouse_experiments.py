"""Experiment results counted in ClickHouse (a real two-shard cluster, and the same SQL on
current ClickHouse through chdb) equal the per-variant rollups: exposed people, every rung
reached, conversions, revenue, sources and the time to convert, per variant, after random
activity with devices stitched to leads after they were shipped (a lead already counted, or
not), payments and refunds."""

import datetime as dt
import io
import json
import random
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from tests.clickhouse_fixtures import on_current_clickhouse
from tests.staff import member
from tests.test_experiment_rollups import random_moves
from tests.test_experiments import BROWSER, loaded, project  # noqa: F401 (fixtures)
from yesladder.experiments.assignment import live
from yesladder.experiments.models import Exposure
from yesladder.experiments.results import results
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.journeys import journey_for
from yesladder.warehouse import queries
from yesladder.warehouse.shipping import Shipper
from yesladder.warehouse.store import ClickHouseStore, plan_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.experiments]
T0 = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
KEY = "assessment-early"


def activity(rng: random.Random, leads: list, visitors: list, people: int, moves: int) -> None:
    """New people exposed as their journeys start, then steps (mostly the next rung up),
    payments, refunds, stitching and recounts, hours apart."""
    for i in range(people):
        lead = rng.choice(leads) if i % 8 == 7 else None  # a known lead's new device
        visitor = Visitor.objects.create(user_agent=BROWSER["HTTP_USER_AGENT"], lead=lead,
                                         utm_source=rng.choice(["", "ads", "news"]))  # fmt: skip
        visitors.append((visitor, journey_for(visitor, "b2b-ladder").version))
    random_moves(rng, visitors, leads, moves)


def counted(found) -> dict:
    return {v.key: (v.exposed, dict(v.levels), v.converted, v.revenue, v.revenue_squares,
                    v.sources, v.days_to_convert) for v in found.variants}  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_results_from_clickhouse_equal_the_rollups(clickhouse, loaded, seed):  # noqa: F811
    rng = random.Random(seed)
    leads = [Lead.objects.create(email=f"p{i}@example.com") for i in range(4)]
    visitors = []
    activity(rng, leads, visitors, 24, 120)
    shipper = Shipper(clickhouse, settle=0)
    shipper.sync()  # then more stitching: exposures move to their leads, some stop counting
    activity(rng, leads, visitors, 8, 120)
    shipper.sync()
    assert Exposure.objects.filter(counted=False).exists()
    store = ClickHouseStore(clickhouse)
    ours = counted(results("b2b-ladder", KEY))
    assert counted(results("b2b-ladder", KEY, store=store)) == ours
    assert sum(c[2] for c in ours.values()) and all(c[0] for c in ours.values())

    current = live(loaded)[0]
    macros = {v.pk: 4 for v in current.versions.values()}  # the pilot, 5th of each ladder
    plan = plan_for(loaded.funnel_id, list(macros))
    sql, params = queries.experiment(plan, current.row.pk, macros, clickhouse.database)
    assert summed(on_current_clickhouse(clickhouse, sql, params)) == summed(store._run(sql, params))


def summed(rows) -> Counter:
    """Per (variant, source, level, seconds): people, revenue, squares, over the shards."""
    found = Counter()
    for *key, people, revenue, squares in rows:
        for i, n in enumerate((people, revenue, squares)):
            found[(*key, i)] += n
    return found


def test_the_cli_counts_in_clickhouse(clickhouse, loaded):  # noqa: F811
    rng = random.Random(7)
    leads = [Lead.objects.create(email=f"p{i}@example.com") for i in range(3)]
    activity(rng, leads, [], 12, 60)

    def shown(*engine) -> dict:
        out, err = io.StringIO(), io.StringIO()
        call_command("experiment", "results", "b2b-ladder", KEY, "--format", "json", *engine,
                     stdout=out, stderr=err)  # fmt: skip
        found = json.loads(out.getvalue())
        return err.getvalue(), {v["key"]: (v["exposed"], v["converted"], v["rungs"],
                                            v["revenue"], v["sources"], v["days_to_convert"])
                                for v in found["variants"]}  # fmt: skip

    note, theirs = shown("--engine", "clickhouse")
    assert "behind the event log" in note
    Shipper(clickhouse, settle=0).sync()
    assert shown("--engine", "clickhouse") == ("", shown()[1])
    assert theirs != shown()[1]  # nothing was shipped before


def test_the_dashboard_page_counts_in_clickhouse_when_it_keeps_up(clickhouse, loaded,  # noqa: F811
                                                                   settings):  # fmt: skip
    from django.test import Client

    from yesladder.dashboard.experiments import experiment_pages, variant_chart

    rng = random.Random(5)
    leads = [Lead.objects.create(email=f"p{i}@example.com") for i in range(3)]
    activity(rng, leads, [], 16, 80)
    funnel = loaded.funnel
    staff = Client()
    staff.force_login(member("staff", "owner"))

    def page() -> str:
        return staff.get(f"/dashboard/funnels/{funnel.key}/experiments/").content.decode()

    settings.CLICKHOUSE_MAX_LAG_SECONDS = 0  # nothing shipped yet: too far behind
    assert "These numbers are from the embedded engine: the store is more than" in page()
    Shipper(clickhouse, settle=0).sync()
    assert "These numbers are from ClickHouse." in page()
    theirs, engine = experiment_pages(funnel)
    variant = theirs[0].variants[1].key
    chart = variant_chart(funnel, KEY, variant)
    settings.CLICKHOUSE = None
    ours, no_line = experiment_pages(funnel)
    assert (unsigned(theirs), engine, no_line) == (
        unsigned(ours), "These numbers are from ClickHouse.", "")  # fmt: skip
    assert chart == variant_chart(funnel, KEY, variant)
    assert "These numbers are from" not in page()


def unsigned(pages: list) -> list:
    """The pages without their preview links, whose signatures carry the second they were made."""
    from dataclasses import replace

    return [replace(p, variants=tuple(
        replace(v, rungs=tuple(replace(r, preview="") for r in v.rungs)) for v in p.variants))
        for p in pages]  # fmt: skip


def test_no_store_is_a_clear_error(settings, loaded):  # noqa: F811
    settings.CLICKHOUSE = None
    with pytest.raises(CommandError, match="no store configured"):
        call_command("experiment", "results", "b2b-ladder", KEY, "--engine", "clickhouse")
