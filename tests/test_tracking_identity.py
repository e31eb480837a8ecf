"""What tracked messages mean: one timeline per lead, journeys moved by step actions."""

import pytest

from tests.conftest import BLOG, sourced_from
from yesladder.analytics.models import Progress
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking.models import Event, Journey

pytestmark = pytest.mark.django_db


def names(lead: Lead) -> list[str]:
    return [e.label or e.name for e in lead.timeline()]


def test_events_before_and_after_identify_are_one_timeline(tracker):
    tracker.post("page", {"anonymousId": "anon", "name": "Home", "messageId": "1",
                          "timestamp": "2026-11-20T10:00:00Z"})  # fmt: skip
    tracker.post("track", {"anonymousId": "anon", "event": "Read Guide", "messageId": "2",
                           "timestamp": "2026-11-20T10:01:00Z"})  # fmt: skip
    answer = tracker.post(
        "identify",
        {"anonymousId": "anon", "userId": "u-42", "messageId": "3",
         "timestamp": "2026-11-20T10:02:00Z",
         "traits": {"email": "Ann@Example.com", "company": "Acme", "role": "CTO"}},
    )  # fmt: skip
    assert answer.status_code == 200
    # Later, from the site's server: only the user id.
    tracker.post("track", {"userId": "u-42", "event": "Upgraded", "messageId": "4",
                           "timestamp": "2026-11-20T10:03:00Z"})  # fmt: skip
    lead = Lead.objects.get(email="ann@example.com")
    assert names(lead) == ["Home", "Read Guide", "identified", "Upgraded"]
    assert lead.user_id == "u-42"
    assert {"company", "role"} <= lead.known_fields()  # progressive profiling sees them
    assert lead.status == Lead.Status.IDENTIFIED  # no consent given: never mailed marketing


def test_a_user_seen_on_the_server_first_joins_when_identified(tracker):
    tracker.post("track", {"userId": "u-7", "event": "Signed In", "messageId": "1"})
    tracker.post("identify", {"userId": "u-7", "messageId": "2", "traits": {"email": "b@x.io"}})
    tracker.post("track", {"anonymousId": "phone", "userId": "u-7", "event": "Opened App",
                           "messageId": "3"})  # fmt: skip
    lead = Lead.objects.get(email="b@x.io")
    assert sorted(names(lead)) == ["Opened App", "Signed In", "identified"]


def test_alias_joins_an_old_id_to_the_user(tracker):
    tracker.post("identify", {"userId": "new-id", "messageId": "1", "traits": {"email": "c@x.io"}})
    tracker.post("track", {"anonymousId": "old-anon", "event": "Viewed", "messageId": "2"})
    assert tracker.post("alias", {"previousId": "old-anon", "userId": "new-id",
                                  "messageId": "3"}).status_code == 200  # fmt: skip
    assert "Viewed" in names(Lead.objects.get(email="c@x.io"))


def test_identify_from_an_opt_in_form_keeps_the_consent(tracker):
    tracker.post(
        "identify",
        {"anonymousId": "a", "messageId": "1", "traits": {"email": "d@x.io"},
         "context": {"consent": {"text": "Email me the checklist"},
                     "page": {"url": f"{BLOG}/checklist"}}},
        HTTP_ORIGIN=BLOG,
    )  # fmt: skip
    lead = Lead.objects.get(email="d@x.io")
    consent = lead.consents.get()
    assert lead.status == Lead.Status.CONFIRMED
    assert (consent.text, consent.page_url) == ("Email me the checklist", f"{BLOG}/checklist")
    assert consent.ip == "127.0.0.1"


def step_action(event: str, step: str, n: int, who: str = "reader") -> dict:
    return {"anonymousId": who, "event": event, "messageId": f"{who}-{n}",
            "properties": {"funnel": "clean", "step": step}}  # fmt: skip


def test_step_actions_move_the_journey_as_the_pages_do(tracker, clean):
    load_funnel(sourced_from(clean))
    assert tracker.post("track", step_action("step_viewed", "guide", 1)).status_code == 200
    assert tracker.post("track", step_action("Step Completed", "guide", 2)).status_code == 200
    journey = Journey.objects.get()
    assert journey.done == ["guide"] and journey.current_step == "checklist"
    recorded = list(Event.objects.values_list("name", "step_key", "funnel_version"))
    assert recorded == [("step_viewed", "guide", journey.version_id),
                        ("step_completed", "guide", journey.version_id)]  # fmt: skip


def test_a_completed_macro_step_converts_once_however_often_it_is_sent(tracker, clean):
    load_funnel(sourced_from(clean))
    for _ in range(3):
        tracker.post("batch", {"batch": [{**step_action("step_completed", "program", 1),
                                          "type": "track"}]})  # fmt: skip
    journey = Journey.objects.get()
    assert journey.converted_at is not None
    assert Event.objects.filter(name=EventName.CONVERTED).count() == 1
    assert Event.objects.filter(name=EventName.STEP_COMPLETED).count() == 1


def test_money_cannot_be_claimed_by_a_tracked_site(tracker, clean):
    """A write key sits in public page source: 'paid' from it is kept, but as a plain event."""
    load_funnel(sourced_from(clean))
    tracker.post("track", step_action("paid", "program", 1))
    assert Event.objects.get().name == EventName.TRACKED


def test_a_message_id_repeated_in_one_batch_counts_once_as_the_stored_one(tracker, clean):
    """The INSERT keeps the first of two messages with one id; progress must count that one,
    not the second, which the log does not hold."""
    load_funnel(sourced_from(clean))
    first = {**step_action("step_viewed", "guide", 1, who="first"), "type": "track"}
    second = {**step_action("step_viewed", "guide", 1, who="second"), "type": "track",
              "messageId": first["messageId"]}  # fmt: skip
    assert tracker.post("batch", {"batch": [first, second]}).json()["accepted"] == 2
    stored = Event.objects.get()
    assert stored.visitor.anonymous_id == "first"
    people = list(Progress.objects.values_list("person", flat=True))
    assert people == [f"v{stored.visitor_id.hex}"]
