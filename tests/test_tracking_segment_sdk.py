"""Segment's own Python library, pointed at a live yesladder on loopback, works unchanged."""

import pytest
from segment.analytics.client import Client

from tests.conftest import sourced_from
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking.models import Event, Journey


@pytest.fixture
def segment_client(live_server, write_key):
    errors = []
    client = Client(
        write_key=write_key.key, host=live_server.url, upload_size=20, upload_interval=0.1,
        gzip=True, max_retries=1, on_error=lambda error, batch: errors.append(error),
    )  # fmt: skip
    yield client, errors
    client.shutdown()


@pytest.mark.django_db(transaction=True)
def test_the_official_library_sends_track_identify_and_page_in_batches(segment_client, clean):
    load_funnel(sourced_from(clean))
    client, errors = segment_client
    for n in range(30):  # enough for several batches of 20
        client.page(anonymous_id="laptop", name=f"Post {n}", properties={"url": f"/post/{n}"})
    client.track(anonymous_id="laptop", event="step_viewed",
                 properties={"funnel": "clean", "step": "guide"})  # fmt: skip
    client.track(anonymous_id="laptop", event="Step Completed",
                 properties={"funnel": "clean", "step": "guide"})  # fmt: skip
    client.identify(user_id="u-1", anonymous_id="laptop",
                    traits={"email": "reader@example.com", "company": "Acme"})  # fmt: skip
    client.track(user_id="u-1", event="Plan Chosen", properties={"plan": "pro"})
    client.flush()

    assert errors == []
    assert Event.objects.count() == 34
    journey = Journey.objects.get()
    assert journey.done == ["guide"] and journey.current_step == "checklist"
    lead = Lead.objects.get(email="reader@example.com")
    # Calls made microseconds apart may swap places by the send latency of their batches.
    timeline = {e.label or e.name for e in lead.timeline()}
    expected = {f"Post {n}" for n in range(30)} | {"step_viewed", "Step Completed",
                                                   "identified", "Plan Chosen"}  # fmt: skip
    assert timeline == expected and lead.timeline().count() == 34
    assert lead.profile["company"] == "Acme"
