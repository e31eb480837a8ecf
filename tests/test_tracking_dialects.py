"""The tracking API reads the Segment spec as each library writes it (the libraries themselves
are run in tests/test_tracking_clients*.py): one dialect per test, at the HTTP edge."""

import datetime as dt

import pytest

from tests.conftest import BLOG
from yesladder.leads.models import Lead
from yesladder.tracking import segment
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db
EMAIL = {"email": "ann@example.com"}


def test_identify_traits_only_in_context_make_the_lead(tracker):
    """RudderStack's libraries send identify's traits only in context.traits."""
    message = {"anonymousId": "a", "userId": "u-1", "context": {"traits": {**EMAIL, "plan": "pro"}}}
    assert tracker.post("identify", message).status_code == 200
    lead = Lead.objects.get(email="ann@example.com")
    assert lead.user_id == "u-1" and lead.profile["plan"] == "pro"


def test_the_top_level_traits_win_over_context_traits():
    message = segment.Message.model_validate({
        "type": "identify", "userId": "u-1", "traits": {"plan": "pro"},
        "context": {"traits": {"plan": "free", "company": "Acme"}},
    })  # fmt: skip
    assert message.traits == {"plan": "pro", "company": "Acme"}


def test_a_group_s_traits_are_the_group_s_never_the_user_s():
    message = segment.Message.model_validate({
        "type": "group", "userId": "u-1", "groupId": "acme", "traits": {"name": "Acme Inc"},
        "context": {"traits": {"name": "Ann"}},
    })  # fmt: skip
    assert message.traits == {"name": "Acme Inc"}


def test_traits_on_a_track_or_page_are_read_and_identify_no_one(tracker):
    batch = [
        {"type": kind, "anonymousId": "a", "event": "Clicked", "context": {"traits": EMAIL}}
        for kind in ("track", "page")
    ]
    assert tracker.post("batch", {"batch": batch}).json()["accepted"] == 2
    assert not Lead.objects.exists()


def test_an_empty_user_id_is_no_user_id(tracker):
    """RudderStack's browser library sends an anonymous visitor's userId as ""."""
    message = {"anonymousId": "a", "userId": "", "event": "Clicked"}
    assert tracker.post("track", message).status_code == 200
    assert Event.objects.get().visitor.anonymous_id == "a"


def test_type_in_a_batch_is_read_in_any_case_and_unknown_fields_are_kept(tracker):
    batch = [{"type": " Track ", "anonymousId": "a", "event": "Clicked", "channel": "web",
              "rudderId": "r-1", "integrations": {"All": True}, "properties": None}]  # fmt: skip
    answer = tracker.post("batch", {"batch": batch, "metadata": {"nodeVersion": "20"}})
    assert answer.json() == {"success": True, "accepted": 1, "rejected": []}


def test_original_timestamp_is_the_device_s_time_corrected_by_sent_at(tracker):
    """RudderStack sends originalTimestamp and sentAt on the device's clock, a year off here."""
    message = {"anonymousId": "a", "event": "Clicked", "originalTimestamp": "2020-01-01T00:00:00Z",
               "sentAt": "2020-01-01T00:00:10Z"}  # fmt: skip
    assert tracker.post("track", message).status_code == 200
    event = Event.objects.get()
    assert event.received_at - event.occurred_at == pytest.approx(
        dt.timedelta(seconds=10), abs=dt.timedelta(seconds=2)
    )


@pytest.mark.parametrize("path", ["t", "i", "p", "s", "g", "a", "b"])
def test_analytics_js_short_paths_are_the_endpoints(tracker, path):
    """analytics.js posts to the first letter of the call's type."""
    message = {"anonymousId": "a", "userId": "u", "event": "E", "previousId": "p"}
    body = {"batch": [{"type": "track", **message}]} if path == "b" else message
    assert tracker.post(path, body).status_code == 200


def test_a_wrong_key_is_readable_by_a_known_origin_only(tracker):
    """A library that cannot read its 401 takes it for a network error and retries forever."""
    answer = tracker.post("track", {"anonymousId": "a", "event": "E"}, key="wrong",
                          HTTP_ORIGIN=BLOG)  # fmt: skip
    assert answer.status_code == 401 and answer["Access-Control-Allow-Origin"] == BLOG
    answer = tracker.post("track", {"anonymousId": "a", "event": "E"}, key="wrong",
                          HTTP_ORIGIN="https://evil.example")  # fmt: skip
    assert answer.status_code == 401 and "Access-Control-Allow-Origin" not in answer


def test_preflight_allows_the_headers_libraries_add(client, write_key):
    asked = "authorization, content-type, anonymousid, sentat, rsa-retry-attempt"
    answer = client.options("/v1/track", HTTP_ORIGIN=BLOG,
                            HTTP_ACCESS_CONTROL_REQUEST_HEADERS=asked)  # fmt: skip
    assert answer["Access-Control-Allow-Headers"].endswith(asked)
    answer = client.options("/v1/track", HTTP_ORIGIN=BLOG,
                            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x\r\nSet-Cookie: a=b")  # fmt: skip
    assert "Set-Cookie" not in answer["Access-Control-Allow-Headers"]
