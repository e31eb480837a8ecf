"""Every writer hands its events to the reactors the same way (`reacting_together`): RECORDED as
written, STITCHED when a stitch comes (after the events written so far were heard), SETTLED at
the end with their leads; each event heard once, whatever the path. Money recorded before a
stitch in the same request once counted twice (a `paid` of 29,000 gave revenue 58,000)."""

import datetime as dt
import random

import pytest
import time_machine
from django.db import transaction

from tests.test_analytics_rollups import _counted_from_rows, _kept
from tests.test_experiment_rollups import counted_from_rows, kept
from tests.test_experiments import BROWSER, client, loaded, project  # noqa: F401 (fixtures)
from yesladder.analytics import progress
from yesladder.analytics.models import Progress
from yesladder.analytics.report import build
from yesladder.events import EventName
from yesladder.experiments.assignment import live
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.identity import identify
from yesladder.tracking.journeys import journey_for
from yesladder.tracking.models import Event
from yesladder.tracking.services import reacting_together, record

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.experiments]
T0 = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC)  # a Monday night: days and weeks change
FIREFOX = BROWSER["HTTP_USER_AGENT"]


def heard_in_order(heard) -> list[tuple[str, list[str]]]:
    """The moments about events, each with the names of the events it carried."""
    return [(moment, [e.name for e in what["events"]]) for moment, what, _ in heard
            if moment in ("recorded", "stitched", "settled")]  # fmt: skip


def test_money_before_a_stitch_on_a_page_counts_once(loaded, heard):  # noqa: F811
    visitor = Visitor.objects.create(user_agent=FIREFOX)
    journey = journey_for(visitor, "b2b-ladder")
    heard.clear()
    with transaction.atomic(), reacting_together():  # a page's request: a payment, then an email
        record(EventName.PAID, visitor, journey.version, "pilot", {"amount": 29_000})
        lead = identify(visitor, "ada@example.com", {}, None)
        record(EventName.OPTED_IN, visitor, journey.version, "checklist")

    assert Progress.objects.get(person=f"l{lead.pk}").revenue == 29_000
    assert heard_in_order(heard) == [
        ("recorded", ["paid"]),  # as written: anonymous
        ("stitched", ["experiment_exposed"]),  # an earlier request's, not this one's...
        ("recorded", ["opted_in"]),
        ("settled", ["paid", "opted_in"]),  # ...but settled once, with their lead
    ]


def test_a_batch_is_heard_in_the_same_order_and_converts_once(loaded, heard, tracker):  # noqa: F811
    macro = next(s.key for s in loaded.spec.steps if s.macro)
    batch = [
        {"type": "track", "event": "step_completed", "anonymousId": "a-1", "messageId": "1",
         "properties": {"funnel": "b2b-ladder", "step": macro}},
        {"type": "identify", "anonymousId": "a-1", "messageId": "2",
         "traits": {"email": "grace@example.com"}},
    ]  # fmt: skip
    assert tracker.post("batch", {"batch": batch}).status_code == 200
    assert tracker.post("batch", {"batch": batch}).status_code == 200  # a replay changes nothing

    assert heard_in_order(heard) == [  # the journey's start exposes the person first
        ("recorded", ["experiment_exposed", "step_completed", "identified", "converted"]),
        ("stitched", []),
        ("settled", ["step_completed", "identified", "converted", "experiment_exposed"]),
    ]  # settled in the order they happened: the batch's moments are the site's
    lead = Lead.objects.get(email="grace@example.com")
    assert Event.objects.filter(lead=lead, name=EventName.CONVERTED).count() == 1


def snapshot(funnel: str, experiment_id: int) -> tuple:
    rows = sorted(
        Progress.objects.values_list("person", "version_id", "level", "revenue", "opted_in",
                                     "engaged", "viewed", "clicked", "cohort", "source")
    )  # fmt: skip
    return rows, _kept(), kept(), build(funnel, by="source")


@pytest.mark.parametrize("seed", range(3))
def test_a_mix_of_writers_counts_as_the_events_replayed_one_by_one(
    loaded,  # noqa: F811
    tracker,
    client,  # noqa: F811
    seed,
):
    """Pages, tracking API batches, identifies and payments, in a random order over a night
    that changes day and week; then every row and rollup is made again from the event log, one
    event after another: the same progress, rollups, variant tallies and report."""
    rng = random.Random(seed)
    steps = [s.key for s in loaded.spec.steps]
    anonymous = [f"anon-{n}" for n in range(8)]
    visitors: list[Visitor] = []
    for n in range(60):
        with time_machine.travel(T0 + dt.timedelta(minutes=3 * n), tick=False):
            roll = rng.random()
            if roll < 0.3 or not visitors:  # a page, in a browser
                if rng.random() < 0.5:
                    client.cookies.clear()  # someone new
                client.get(f"/f/b2b-ladder/{rng.choice(steps[:3])}/")
                visitors = list(Visitor.objects.filter(anonymous_id=""))
            elif roll < 0.6:  # a batch from a tracked site, sometimes naming the person
                who = rng.choice(anonymous)
                batch = [{"type": "track", "event": rng.choice(["step_viewed", "step_completed"]),
                          "anonymousId": who, "messageId": f"{seed}-{n}-{k}",
                          "properties": {"funnel": "b2b-ladder", "step": rng.choice(steps)}}
                         for k in range(rng.randrange(1, 4))]  # fmt: skip
                if rng.random() < 0.3:
                    batch.append({"type": "identify", "anonymousId": who,
                                  "messageId": f"{seed}-{n}-id",
                                  "traits": {"email": f"{who}@example.com"}})  # fmt: skip
                assert tracker.post("batch", {"batch": batch}).status_code == 200
            else:  # a request that pays and/or gives an email, as a page or a provider does
                visitor = rng.choice(visitors)
                visitor.refresh_from_db()
                journey = journey_for(visitor, "b2b-ladder")
                with transaction.atomic(), reacting_together():
                    if rng.random() < 0.6:
                        record(EventName.PAID, visitor, journey.version, steps[-1],
                               {"amount": rng.choice([795, 29_000])})  # fmt: skip
                    if rng.random() < 0.5:
                        identify(visitor, f"p{rng.randrange(6)}@example.com", {}, None)
                    record(EventName.STEP_VIEWED, visitor, journey.version, rng.choice(steps))
    experiment = live(loaded)[0].row

    through_the_writers = snapshot("b2b-ladder", experiment.pk)
    assert _kept() == _counted_from_rows()
    assert kept() == counted_from_rows(experiment.pk)
    progress.recount_all("b2b-ladder")
    assert snapshot("b2b-ladder", experiment.pk) == through_the_writers
    assert sum(r[3] for r in through_the_writers[0]) > 0  # money was counted
