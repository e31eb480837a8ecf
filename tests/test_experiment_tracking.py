"""The variant reaches tracked sites: the tracking API's answer names, for each visitor whose
message started or used a journey in an experiment, that experiment and its variant (the one
the person is counted in, on every device)."""

import pytest

from tests.test_experiments import EXAMPLES
from yesladder.experiments.models import Exposure
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.identity import stitch

pytestmark = [pytest.mark.django_db, pytest.mark.experiments]
EXPERIMENT = "assessment-early"


@pytest.fixture
def b2b(db):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))


def step(who: str, n: int, key: str = "anonymousId") -> dict:
    return {"type": "track", "event": "step_viewed", key: who, "messageId": f"{who}-{n}",
            "properties": {"funnel": "b2b-ladder", "step": "guide"}}  # fmt: skip


def test_the_answer_names_each_visitor_s_variant(tracker, b2b):
    people = [f"anon-{i}" for i in range(12)]
    answer = tracker.post("batch", {"batch": [step(p, 0) for p in people]}).json()
    named = {v["anonymousId"]: v for v in answer["variants"]}
    assert set(named) == set(people)
    for who, v in named.items():
        exposure = Exposure.objects.get(visitor__anonymous_id=who)
        assert (v["funnel"], v["experiment"], v["variant"]) == (
            "b2b-ladder", EXPERIMENT, exposure.variant,
        )  # fmt: skip
    assert {v["variant"] for v in named.values()} == {"education-first", EXPERIMENT}
    again = tracker.post("batch", {"batch": [step(p, 1) for p in people]}).json()
    assert again["variants"] == answer["variants"]  # sticky, and no second exposure
    assert Exposure.objects.count() == len(people)


def test_a_message_outside_any_journey_names_no_variant(tracker, b2b):
    answer = tracker.post("track", {"type": "track", "event": "Clicked", "anonymousId": "a"})
    assert "variants" not in answer.json()


def test_a_lead_s_second_device_is_named_the_lead_s_variant(tracker, b2b):
    tracker.post("track", step("first", 0))
    first = Exposure.objects.get()
    lead = Lead.objects.create(email="ada@example.com")
    stitch(first.visitor, lead)
    for i in range(4):  # devices whose own hash would pick either variant
        device = f"device-{i}"
        tracker.post("track", step(device, 0))
        stitch(Visitor.objects.get(anonymous_id=device), lead)
        answer = tracker.post("track", step(device, 1)).json()
        assert answer["variants"][0]["variant"] == first.variant
    by_user = tracker.post("track", step("user-7", 0, key="userId")).json()
    assert by_user["variants"][0]["userId"] == "user-7"


def test_the_report_by_variant_of_one_version_counts_every_variant_s_ladder(b2b):
    from yesladder.analytics.report import build
    from yesladder.events import EventName
    from yesladder.tracking.journeys import journey_for
    from yesladder.tracking.services import record

    for i in range(10):
        visitor = Visitor.objects.create(user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/130")
        version = journey_for(visitor, "b2b-ladder").version
        for key in [s.key for s in version.spec.ladder()][: 1 + i % 3]:
            record(EventName.STEP_VIEWED, visitor, version, key)
    exposed = {e.variant: 0 for e in Exposure.objects.all()}
    for e in Exposure.objects.all():
        exposed[e.variant] += 1
    one = build("b2b-ladder", version=1, by="variant")
    every = build("b2b-ladder", by="variant")
    groups = {g.name: g.entered for g in one.groups}
    assert groups == {g.name: g.entered for g in every.groups}
    assert groups == {"as written": exposed["education-first"],
                      f"{EXPERIMENT}/{EXPERIMENT}": exposed[EXPERIMENT]}  # fmt: skip
    assert build("b2b-ladder", version=1).entered == exposed["education-first"]  # as written
