"""The report from ClickHouse (a real two-shard cluster) equals the embedded engine's, cell by
cell, on random event sets with the nasty cases: the same instant, repeats, the window's edge,
visitors stitched to leads after their events were shipped, a replayed batch."""

import datetime as dt
import random

import pytest

from tests.conftest import funnel_dict, sourced_from
from yesladder.analytics.report import build
from yesladder.analytics.store import DIMENSIONS
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.services import record
from yesladder.warehouse.models import Checkpoint
from yesladder.warehouse.shipping import Shipper
from yesladder.warehouse.store import ClickHouseStore

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
WINDOW = dt.timedelta(hours=1)
SEEDS = 3
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Firefox/131.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1",
          "curl/8.0", "Mozilla/5.0 (compatible; Googlebot/2.1)"]  # fmt: skip
SOURCES = [("google", "cpc"), ("ann's list", "solo_ad"), ("bob", "SOLO"), ("", ""),
           ("x'); DROP TABLE events_local; --", "email")]  # fmt: skip
TIERS = ["leaky", "strong", "it's \\ odd"]  # a retake moves its person to another tier


def funnel():
    data = funnel_dict()
    data["window"] = "1h"
    data["steps"].insert(2, {"key": "bonus", "kind": "content", "title": "Bonus",
                             "value": "More", "cta": "Next", "body": "# Bonus",
                             "optional": True})  # fmt: skip
    data["exclude"] = [{"event": "tracked", "label": "Staff test"}]
    next(s for s in data["steps"] if s["key"] == "call")["attended"] = True  # a rung of its own
    load_funnel(sourced_from(data))
    from yesladder.funnels.models import current_version

    return current_version(data["funnel"])


def scene(rng: random.Random, version, people: int, phase: int, crowd: list) -> None:
    steps = ["guide", "checklist", "bonus", "score", "call", "program"]
    for _ in range(people):
        source, medium = rng.choice(SOURCES)
        crowd.append(new_visitor(rng.choice(AGENTS), "https://example.com/", "",
                                 {"utm_source": source, "utm_medium": medium}))  # fmt: skip
    for visitor in rng.sample(crowd, min(len(crowd), people)):
        visitor.refresh_from_db()
        at = T0 + dt.timedelta(minutes=rng.choice([0, 5, 30]) + phase * 45)
        for _ in range(rng.randrange(1, 9)):
            # Whole minutes make ties; a move of exactly the window lands on its edge.
            at += rng.choice([dt.timedelta(0), dt.timedelta(minutes=rng.randrange(1, 40)), WINDOW])
            name, step, props = rng.choice([
                (EventName.STEP_VIEWED, rng.choice(steps), {}),
                (EventName.STEP_VIEWED, rng.choice(steps), {}),
                (EventName.STEP_COMPLETED, rng.choice(steps), {}),
                (EventName.CTA_CLICKED, rng.choice(steps), {}),
                (EventName.CONVERTED, "program", {}),
                (EventName.CALL_ATTENDED, "call", {}),
                (EventName.CALL_ATTENDED, "score", {}),  # not a rung: that step has no call
                (EventName.CALL_NO_SHOW, "call", {}),
                (EventName.PAID, "program", {"amount": rng.choice([795, 4700])}),
                (EventName.REFUNDED, "program", {"amount": 795}),
                (EventName.OPTED_IN, "checklist", {}),
                (EventName.VIDEO_PROGRESS, "guide", {"percent": rng.choice([50, 80])}),
                (EventName.TRACKED, "", {}),
                (EventName.QUIZ_COMPLETED, "score", {"score": 40, "tier": rng.choice(TIERS)}),
            ])  # fmt: skip
            event = record(name, visitor, version, step, props, occurred_at=at)
            if name == EventName.TRACKED and rng.random() < 0.3:
                from django.db import transaction

                from yesladder.analytics.progress import recount_visitor

                with transaction.atomic():  # a staff test: labelled after the fact
                    type(event).objects.filter(pk=event.pk).update(label="Staff test")
                    recount_visitor(visitor)


def stitch_some(rng: random.Random, crowd: list, leads: list) -> None:
    for visitor in rng.sample(crowd, len(crowd) // 3):
        visitor.refresh_from_db()
        if visitor.is_bot:
            continue
        if leads and rng.random() < 0.4:
            lead = rng.choice(leads)  # a second device of a known lead
        else:
            lead = Lead.objects.create(email=f"p{len(leads)}-{rng.random()}@example.com")
            leads.append(lead)
        stitch(visitor, lead)


def reports_equal(settings, version, seed: int) -> None:
    """The whole report, and a share of the breakdowns (all of them over the seeds)."""
    from dataclasses import asdict

    store = ClickHouseStore(settings)
    breakdowns = [dict(by=by, touch=t) for by in DIMENSIONS for t in ("first", "last")]
    cases = [dict(), *breakdowns[seed::SEEDS]]
    cases += [
        dict(since=T0.date(), until=T0.date(), by="source"),
        dict(since=T0.date() + dt.timedelta(days=1)),
        dict(version=version.number),
        dict(version=version.number, by="variant"),  # the version with its variants beside it
    ]
    for case in cases:
        ours = build("clean", store=None, **case)
        theirs = build("clean", store=store, **case)
        assert asdict(theirs) == asdict(ours), case


@pytest.mark.parametrize("seed", range(SEEDS))
def test_report_from_clickhouse_equals_the_embedded_engine(clickhouse, seed):
    rng = random.Random(seed)
    version = funnel()
    crowd, leads = [], []
    scene(rng, version, 25, 0, crowd)
    shipper = Shipper(clickhouse, settle=0)
    shipper.sync()  # shipped while still anonymous
    stitch_some(rng, crowd, leads)
    scene(rng, version, 15, 1, crowd)
    shipper.sync()
    # A crash between insert and checkpoint: the last batches are sent again.
    Checkpoint.objects.update(position=0)
    Shipper(clickhouse, settle=0).sync()
    reports_equal(clickhouse, version, seed)


LADDER = ["guide", "checklist", "score", "call", "program"]


def climbers(rng: random.Random, version, people: int, crowd: list) -> None:
    """People who climb several rungs, each move taking no time, seconds, minutes, exactly
    the window or just past it (the times to the next rung and the last touch come from the
    counted chain's hits)."""
    for _ in range(people):
        source, medium = rng.choice(SOURCES)
        visitor = new_visitor(rng.choice(AGENTS[:2]), "https://example.com/", "",
                              {"utm_source": source, "utm_medium": medium})  # fmt: skip
        crowd.append(visitor)
        at = T0 + dt.timedelta(minutes=rng.randrange(0, 600))
        for step in LADDER[: rng.randrange(1, 6)]:
            at += rng.choice([dt.timedelta(0), dt.timedelta(seconds=rng.randrange(1, 119)),
                              dt.timedelta(minutes=rng.randrange(2, 59)), WINDOW,
                              WINDOW + dt.timedelta(seconds=1)])  # fmt: skip
            record(EventName.STEP_VIEWED, visitor, version, step, occurred_at=at)
            if step == "call" and rng.random() < 0.6:  # the call happened, before or after
                at += rng.choice([dt.timedelta(0), dt.timedelta(minutes=rng.randrange(1, 59)),
                                  WINDOW, WINDOW + dt.timedelta(seconds=1)])  # fmt: skip
                record(EventName.CALL_ATTENDED, visitor, version, "call", occurred_at=at)
            if rng.random() < 0.2:  # back to an earlier or later rung
                record(EventName.STEP_VIEWED, visitor, version, rng.choice(LADDER),
                       occurred_at=at + dt.timedelta(minutes=rng.randrange(0, 30)))  # fmt: skip
        if rng.random() < 0.3:
            record(EventName.CONVERTED, visitor, version, "program",
                   occurred_at=at + dt.timedelta(minutes=5))  # fmt: skip


@pytest.mark.parametrize("seed", range(SEEDS))
def test_times_to_the_next_rung_from_clickhouse_equal_the_embedded_engines(clickhouse, seed):
    rng = random.Random(100 + seed)
    version = funnel()
    crowd, leads = [], []
    climbers(rng, version, 20, crowd)
    Shipper(clickhouse, settle=0).sync()
    stitch_some(rng, crowd, leads)
    climbers(rng, version, 10, crowd)
    Shipper(clickhouse, settle=0).sync()
    reports_equal(clickhouse, version, seed)


def test_init_gives_a_store_made_before_tiers_its_tier_column(clickhouse):
    from yesladder.warehouse import services
    from yesladder.warehouse.client import connect, run, shards

    for shard in shards(clickhouse):
        for table in ("events", "events_local"):  # as the release before tiers made them
            run(connect(shard), shard, f"ALTER TABLE {shard.database}.{table} DROP COLUMN tier")
    services.init(clickhouse)
    version = funnel()
    visitor = new_visitor(AGENTS[0], "https://example.com/", "", {})
    record(EventName.STEP_VIEWED, visitor, version, "guide", occurred_at=T0)
    record(EventName.QUIZ_COMPLETED, visitor, version, "score", {"score": 9, "tier": "leaky"},
           occurred_at=T0)  # fmt: skip
    Shipper(clickhouse, settle=0).sync()
    theirs = build("clean", by="tier", store=ClickHouseStore(clickhouse))
    assert [(g.name, g.entered) for g in theirs.groups] == [("leaky", 1)]
