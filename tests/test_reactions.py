"""The one seam between writers and the parts that react: a new reactor is one registration
and hears every writer (a page's single event, the tracking API's batch, stitching, new leads),
in order, inside the writer's transaction or after its commit."""

import pytest
from django.db import transaction

from yesladder import reactions
from yesladder.events import EventName
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_map_registers_progress_first_then_automation():
    assert [r.name for r in reactions.reactors(reactions.RECORDED)] == [
        "yesladder.analytics.progress.on_events"
    ]
    assert [r.name for r in reactions.reactors(reactions.STITCHED)] == [
        "yesladder.analytics.progress.on_stitched",
        "yesladder.experiments.assignment.on_stitched",
        "yesladder.automation.engine.on_stitched",
        "yesladder.warehouse.shipping.on_stitched",
    ]
    assert [r.name for r in reactions.reactors(reactions.SETTLED)] == [
        "yesladder.automation.engine.on_events"
    ]


def test_registering_twice_is_one_reactor_and_unknown_moments_are_refused(heard):
    before = reactions.reactors(reactions.RECORDED)
    reactions.register(reactions.RECORDED, before[-1].react, order=99)
    assert reactions.reactors(reactions.RECORDED) == before
    with pytest.raises(ValueError, match="unknown moment"):
        reactions.register("sometime", print, order=1)


def test_a_single_event_is_heard_recorded_then_settled_in_its_transaction(heard):
    lead = Lead.objects.create(email="ada@example.com")
    event = record(EventName.TRACKED, Visitor.objects.create(lead=lead))
    moments = [(m, w.get("events"), inside) for m, w, inside in heard]
    assert moments == [("recorded", [event], True), ("settled", [event], True)]


def test_an_anonymous_event_is_recorded_and_has_nothing_to_settle(heard):
    record(EventName.TRACKED, Visitor.objects.create())
    assert [m for m, _, _ in heard] == ["recorded"]


def test_the_tracking_api_batch_is_heard_whole_and_settled_after_stitching(heard, tracker):
    batch = [
        {"type": "track", "event": "Clicked", "anonymousId": "a-1", "messageId": "1"},
        {"type": "identify", "anonymousId": "a-1", "messageId": "2",
         "traits": {"email": "grace@example.com"}},
    ]  # fmt: skip
    assert tracker.post("batch", {"batch": batch}).status_code == 200
    recorded = [w["events"] for m, w, _ in heard if m == "recorded"]
    assert [sorted(e.message_id.split(":")[1] for e in events) for events in recorded] == [
        ["1", "2"]
    ]
    lead = Lead.objects.get(email="grace@example.com")
    settled = [w["events"] for m, w, _ in heard if m == "settled"]
    assert len(settled) == 1 and {e.lead_id for e in settled[0]} == {lead.pk}
    assert [m for m, _, _ in heard].index("stitched") < [m for m, _, _ in heard].index("settled")
    assert ("lead created", {"lead": lead}, True) in heard
    assert all(inside for _, _, inside in heard)


def test_a_replayed_batch_is_heard_once(heard, tracker):
    body = {"batch": [{"type": "track", "event": "Clicked", "anonymousId": "a", "messageId": "9"}]}
    tracker.post("batch", body)
    tracker.post("batch", body)
    assert [m for m, _, _ in heard] == ["recorded"]


def test_after_commit_reactors_wait_for_the_commit_and_never_hear_a_rollback(monkeypatch):
    monkeypatch.setitem(reactions._reactors, reactions.RECORDED, ())
    sent = []

    def send(events):
        sent.append([e.pk for e in events])

    reactions.register(reactions.RECORDED, send, order=50, after_commit=True)
    visitor = Visitor.objects.create()
    with transaction.atomic():
        event = record(EventName.TRACKED, visitor)
        assert sent == []  # nothing goes out before the commit
    assert sent == [[event.pk]]
    with pytest.raises(RuntimeError), transaction.atomic():
        record(EventName.TRACKED, visitor)
        raise RuntimeError("the writer fails after recording")
    assert sent == [[event.pk]] and Event.objects.count() == 1


def test_events_held_while_identify_stitches_count_as_the_leads():
    """A page's events reach the reactors together when its request ends; those recorded
    before an identify in the same request count as the lead's, never as a second person."""
    from pathlib import Path

    from yesladder.analytics.models import Progress
    from yesladder.funnels.models import current_version
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import read_spec
    from yesladder.tracking.identity import identify
    from yesladder.tracking.services import reacting_together

    examples = Path(__file__).resolve().parent.parent / "examples"
    load_funnel(read_spec(examples / "solo-ad.yaml"))
    version = current_version("solo-ad")
    visitor = Visitor.objects.create(user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0")
    with transaction.atomic(), reacting_together():
        record(EventName.STEP_VIEWED, Visitor.objects.get(pk=visitor.pk), version, "optin")
        lead = identify(visitor, "cy@example.com", {}, None)
    assert list(Progress.objects.values_list("person", flat=True)) == [f"l{lead.pk}"]
