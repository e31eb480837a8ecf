"""The score is data: automations and segments decide on it, the CRM hears it, a site that
hosts its own quiz reports it through the tracking API."""

import pytest
import yaml

from tests.conftest import journey_with_lead
from tests.quiz_fixtures import CHECKUP
from yesladder.automation.hooks import lead_summary
from yesladder.events import EventName
from yesladder.tracking.models import Event
from yesladder.tracking.services import quiz_results, record

pytestmark = pytest.mark.django_db

LEAKY_RESULT = {"outcome": "leaky", "score": 19, "points": 3, "maximum": 16, "tier": "leaky",
                "categories": {"speed": 25, "habits": 13}}  # fmt: skip


def with_automations() -> dict:
    data = yaml.safe_load(CHECKUP)
    done = {"event": "quiz_completed", "step": "checkup"}
    data["automations"] = [
        {"key": "high", "when": {"did": {**done, "where": {"score": {"gte": 70}}}},
         "do": [{"tag": "high_score"}]},
        {"key": "slow", "when": {"did": {**done, "where": {"categories.speed": {"lt": 40}}}},
         "do": [{"tag": "slow_follow_up"}]},
        {"key": "leaky", "when": {"did": {**done, "where": {"tier": {"eq": "leaky"}}}},
         "do": [{"tag": "leaky"}]},
    ]  # fmt: skip
    return data


def completed(journey, result: dict) -> None:
    record(EventName.QUIZ_COMPLETED, journey.visitor, journey.version, "checkup", result)


def test_automations_decide_on_the_score_the_tier_and_a_category():
    journey = journey_with_lead(with_automations())
    completed(journey, LEAKY_RESULT)
    lead = journey.visitor.lead
    lead.refresh_from_db()
    assert sorted(lead.tags) == ["leaky", "slow_follow_up"]


def test_the_lead_keeps_its_latest_score_per_quiz_and_the_crm_hears_it():
    journey = journey_with_lead(with_automations())
    completed(journey, LEAKY_RESULT)
    completed(journey, {**LEAKY_RESULT, "score": 81, "tier": "strong", "outcome": "strong"})
    lead = journey.visitor.lead
    (latest,) = quiz_results(lead)
    assert (latest["funnel"], latest["step"], latest["score"], latest["tier"]) == (
        "checkup", "checkup", 81, "strong")  # fmt: skip
    assert lead_summary(lead)["lead"]["quizzes"] == [latest]


def test_a_site_reports_its_own_quiz_score(tracker):
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import parse_spec

    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    base = {"type": "track", "event": "quiz_completed", "anonymousId": "a1"}
    where = {"funnel": "checkup", "step": "checkup"}
    ok = tracker.post("track", {**base, "messageId": "q1", "properties": {
        **where, "score": 42, "categories": {"speed": 30, "habits": 60}}})  # fmt: skip
    assert ok.status_code == 200, ok.json()
    event = Event.objects.get(name=EventName.QUIZ_COMPLETED)
    assert event.properties["tier"] == event.properties["outcome"] == "leaky"  # from the ranges
    for n, (bad, field_hint) in enumerate([
        ({"score": 101}, "whole number from 0 to 100"),
        ({"score": "42"}, "whole number from 0 to 100"),
        ({"score": 42, "tier": "gold"}, "not a tier of this quiz"),
        ({"score": 42, "categories": {"speed": 140}}, "whole percents"),
    ]):  # fmt: skip
        answer = tracker.post("track", {**base, "messageId": f"b{n}",
                                        "properties": {**where, **bad}})  # fmt: skip
        assert answer.status_code == 400 and answer.json()["field"] == "properties.score"
        assert field_hint in answer.json()["message"]
    assert Event.objects.filter(name=EventName.QUIZ_COMPLETED).count() == 1


def test_the_timeline_shows_the_score():
    from yesladder.dashboard.services import timeline

    journey = journey_with_lead(with_automations())
    completed(journey, LEAKY_RESULT)
    details = " ".join(entry.detail for entry in timeline(journey.visitor.lead))
    assert "score=19" in details and "tier=leaky" in details


def test_a_segment_can_ask_for_a_score():
    data = with_automations()
    done = {"event": "quiz_completed", "step": "checkup"}
    data["segments"] = {"ready": {"did": {**done, "where": {"score": {"gte": 70}}}}}
    data["automations"] = [{"key": "ready", "when": {"segment": "ready"}, "do": [{"tag": "ready"}]}]
    journey = journey_with_lead(data)
    completed(journey, LEAKY_RESULT)
    lead = journey.visitor.lead
    lead.refresh_from_db()
    assert lead.tags == []
    completed(journey, {**LEAKY_RESULT, "score": 81, "tier": "strong", "outcome": "strong"})
    lead.refresh_from_db()
    assert lead.tags == ["ready"]


def test_a_reported_tier_routes_the_journey_like_one_served_here(tracker):
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import parse_spec
    from yesladder.tracking.models import Journey

    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    where = {"funnel": "checkup", "step": "checkup"}
    for n, (event, extra) in enumerate([("quiz_completed", {"score": 30}),
                                        ("step_completed", {})]):  # fmt: skip
        answer = tracker.post(
            "track",
            {
                "type": "track",
                "event": event,
                "anonymousId": "a2",
                "messageId": f"r{n}",
                "properties": {**where, **extra},
            },
        )
        assert answer.status_code == 200, answer.json()
    journey = Journey.objects.get()
    assert (journey.outcome, journey.current_step) == ("leaky", "fix-call")
