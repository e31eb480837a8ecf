"""The tracking API's answers: what it accepts, what it refuses and how it says so."""

import gzip
import json
from unittest import mock

import pytest
from django.db import OperationalError

from tests.conftest import BLOG
from yesladder.events import EventName
from yesladder.tracking import segment, sites
from yesladder.tracking.models import Event
from yesladder.tracking.segment import MAX_BATCH_BYTES, MAX_EVENT_BYTES

pytestmark = pytest.mark.django_db


def track(n: int = 0, who: str = "anon-1", **extra) -> dict:
    return {"type": "track", "event": "Clicked", "anonymousId": who, "messageId": f"m{n}",
            **extra}  # fmt: skip


def padded(message: dict, total: int) -> bytes:
    """The message as compact JSON of exactly `total` bytes (padding in a property)."""
    message = {**message, "properties": {"pad": ""}}
    bare = len(json.dumps(message, separators=(",", ":")))
    message["properties"]["pad"] = "x" * (total - bare)
    raw = json.dumps(message, separators=(",", ":")).encode()
    assert len(raw) == total
    return raw


def test_track_with_the_write_key_as_basic_user_is_stored(tracker):
    answer = tracker.post("track", track(properties={"plan": "pro"}))
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "accepted": 1, "rejected": []}
    event = Event.objects.get()
    assert (event.name, event.label, event.properties) == ("tracked", "Clicked", {"plan": "pro"})
    assert event.site == tracker.key.site and event.message_id.endswith(":m0")


def test_write_key_in_the_body_works_too(tracker):
    answer = tracker.post("batch", {"batch": [track()], "writeKey": tracker.key.key}, key="")
    assert answer.status_code == 200 and Event.objects.count() == 1


@pytest.mark.parametrize("key", ["", "not-a-key"])
def test_missing_or_unknown_key_is_401_naming_the_field(tracker, key):
    answer = tracker.post("track", track(), key=key)
    assert answer.status_code == 401
    assert answer.json()["field"] == "writeKey" and answer.json()["code"]
    assert not Event.objects.exists()


def test_a_revoked_key_stops_working(tracker):
    from yesladder.tracking import api

    sites.revoke_key(tracker.key.key)
    api.forget_write_keys()  # other processes notice within KEY_CACHE_SECONDS
    assert tracker.post("track", track()).status_code == 401


def test_invalid_json_is_400_naming_the_body(tracker):
    answer = tracker.post("track", None, raw=b"{not json")
    assert answer.status_code == 400 and answer.json()["field"] == "body"


def test_one_bad_message_does_not_cost_the_good_ones(tracker):
    batch = [track(1), {"type": "track", "anonymousId": "a"}, {"type": "nope"}, track(2)]
    answer = tracker.post("batch", {"batch": batch})
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "batch[1]"),
                                                                   (2, "batch[2]")]  # fmt: skip
    assert "event" in body["rejected"][0]["message"] and "type" in body["rejected"][1]["message"]
    assert Event.objects.count() == 2


def test_field_errors_name_the_field(tracker):
    answer = tracker.post("batch", {"batch": [track(timestamp="yesterday-ish")]})
    assert answer.status_code == 400
    assert answer.json()["rejected"][0]["field"] == "batch[0].timestamp"
    answer = tracker.post("identify", {"anonymousId": "a", "traits": {"email": "not-an-email"}})
    assert answer.status_code == 400 and answer.json()["field"] == "traits.email"


def test_a_step_action_for_an_unknown_funnel_is_refused_by_name(tracker):
    answer = tracker.post("track", track(properties={"funnel": "nope", "step": "x"}))
    assert answer.status_code == 400 and answer.json()["field"] == "properties.funnel"


def test_replays_never_double_an_event(tracker):
    """Threat 1: 10,000 events sent three times are 10,000 events."""
    from django.test import override_settings

    batches = [
        {"batch": [track(b * 500 + i, who=f"v{(b * 500 + i) % 2000}") for i in range(500)]}
        for b in range(20)
    ]
    with override_settings(API_EVENTS_PER_SECOND=10**6, API_BURST=10**6):
        from yesladder.tracking import api

        api.reset_limits()
        for _ in range(3):
            for batch in batches:
                assert tracker.post("batch", batch).json()["accepted"] == 500
    assert Event.objects.count() == 10_000


def test_the_same_message_id_from_two_sites_is_two_events(tracker, client):
    other = sites.create_key("shop", [])
    tracker.post("track", track())
    tracker.post("track", track(), key=other.key)
    assert Event.objects.count() == 2


@pytest.mark.parametrize(("endpoint", "limit"), [("track", MAX_EVENT_BYTES)])
def test_one_event_is_taken_up_to_32_kb(tracker, endpoint, limit):
    """Threat 2: accepted at 32,768 bytes, 413 at 32,769."""
    assert tracker.post(endpoint, None, raw=padded(track(1), limit)).status_code == 200
    answer = tracker.post(endpoint, None, raw=padded(track(2), limit + 1))
    assert answer.status_code == 413
    assert "32,768" in answer.json()["message"] and answer.json()["field"] == "body"
    assert Event.objects.count() == 1


def test_an_event_over_32_kb_inside_a_batch_is_rejected_alone(tracker):
    fits = json.loads(padded(track(1), MAX_EVENT_BYTES))
    too_big = json.loads(padded(track(2), MAX_EVENT_BYTES + 1))
    answer = tracker.post("batch", {"batch": [fits, too_big]})
    assert answer.status_code == 200
    assert [r["index"] for r in answer.json()["rejected"]] == [1]
    assert "32,769 bytes" in answer.json()["rejected"][0]["message"]


def batch_of_exactly(total: int) -> bytes:
    """A batch body of exactly `total` bytes, every message within the per-event limit."""
    messages = [json.loads(padded(track(i, who=f"v{i}"), 30_000)) for i in range(17)]
    body = {"batch": messages[:-1], "pad": ""}
    bare = len(json.dumps(body, separators=(",", ":")))
    body["pad"] = "y" * (total - bare)
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) == total
    return raw


def test_a_batch_is_taken_up_to_500_kb(tracker):
    """Threat 2: a batch of 512,000 bytes is taken, 512,001 is refused with 413."""
    assert tracker.post("batch", None, raw=batch_of_exactly(MAX_BATCH_BYTES)).status_code == 200
    answer = tracker.post("batch", None, raw=batch_of_exactly(MAX_BATCH_BYTES + 1))
    assert answer.status_code == 413 and "512,001" in answer.json()["message"]


def test_gzip_bodies_are_read_and_bombs_refused(tracker):
    body = gzip.compress(json.dumps({"batch": [track()]}).encode())
    answer = tracker.post("batch", None, raw=body, HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 200 and Event.objects.count() == 1
    bomb = gzip.compress(b" " * (MAX_BATCH_BYTES * 20))
    answer = tracker.post("batch", None, raw=bomb, HTTP_CONTENT_ENCODING="gzip")
    assert answer.status_code == 413


def test_a_site_over_its_budget_gets_429_never_500(tracker, settings):
    """Threat 5: twice the budget; the excess gets 429 with Retry-After."""
    from yesladder.tracking import api

    settings.API_EVENTS_PER_SECOND, settings.API_BURST = 5, 50
    api.reset_limits()
    statuses = [
        tracker.post("batch", {"batch": [track(b * 10 + i, who=f"v{i}") for i in range(10)]})
        for b in range(10)
    ]
    codes = [s.status_code for s in statuses]
    assert set(codes) == {200, 429} and codes.count(200) == 5
    refused = statuses[codes.index(429)]
    assert int(refused["Retry-After"]) >= 1 and refused.json()["code"] == "rate_limited"
    assert Event.objects.count() == 50


def test_a_looping_visitor_is_limited_alone(tracker, settings):
    from yesladder.tracking import api

    settings.API_VISITOR_EVENTS_PER_SECOND, settings.API_VISITOR_BURST = 1, 3
    api.reset_limits()
    batch = [track(i, who="looper") for i in range(5)] + [track(9, who="calm")]
    body = tracker.post("batch", {"batch": batch}).json()
    assert body["accepted"] == 4 and [r["index"] for r in body["rejected"]] == [3, 4]
    assert tracker.post("track", track(20, who="looper")).status_code == 429


def test_database_trouble_is_503_with_retry_after(tracker):
    """Threat 4: never a 200 for what was not stored, never a 500."""
    with mock.patch(
        "yesladder.tracking.ingestion.store", side_effect=OperationalError("database is locked")
    ):
        answer = tracker.post("track", track())
    assert answer.status_code == 503 and answer["Retry-After"] == "5"
    assert answer.json()["code"] == "unavailable"


def test_the_sites_origin_is_allowed_and_others_are_refused(tracker):
    answer = tracker.post("track", track(1), HTTP_ORIGIN=BLOG)
    assert answer.status_code == 200 and answer["Access-Control-Allow-Origin"] == BLOG
    answer = tracker.post("track", track(2), HTTP_ORIGIN="https://evil.example")
    assert answer.status_code == 403 and answer.json()["field"] == "Origin"
    assert "Access-Control-Allow-Origin" not in answer
    assert Event.objects.count() == 1


def test_preflight_names_only_known_origins(client, write_key):
    answer = client.options("/v1/batch", HTTP_ORIGIN=BLOG)
    assert answer.status_code == 204 and answer["Access-Control-Allow-Origin"] == BLOG
    assert "Authorization" in answer["Access-Control-Allow-Headers"]
    answer = client.options("/v1/batch", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in answer


BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36",
    "curl/8.5.0",
]
HUMAN = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"


def test_bots_are_flagged_not_dropped(tracker):
    """Threat 6: every fixture bot flagged, human traffic kept and not flagged."""
    batch = [track(i, who=f"b{i}", context={"userAgent": ua}) for i, ua in enumerate(BOTS)]
    batch.append(track(9, who="human", context={"userAgent": HUMAN}))
    assert tracker.post("batch", {"batch": batch}).json()["accepted"] == 4
    flagged = dict(
        Event.objects.values_list("label", "is_bot").filter(visitor__anonymous_id="human")
    )
    assert flagged == {"Clicked": False}
    assert Event.objects.filter(is_bot=True).count() == 3


def test_a_browsers_own_user_agent_counts_when_the_library_does_not_say(tracker):
    tracker.post("track", track(), HTTP_ORIGIN=BLOG, HTTP_USER_AGENT=BOTS[1])
    assert Event.objects.get().is_bot


def test_server_side_libraries_are_not_bots(tracker):
    tracker.post("track", track(), HTTP_USER_AGENT="analytics-python/2.4.0")
    assert not Event.objects.get().is_bot


def test_a_timestamp_a_day_ahead_is_flagged_and_received_time_used(tracker):
    answer = tracker.post(
        "track", track(timestamp="2030-01-02T00:00:00Z", sentAt="2030-01-01T00:00:00Z")
    )
    assert answer.status_code == 200
    event = Event.objects.get()
    assert event.future_timestamp and abs(event.occurred_at - event.received_at).seconds < 2


def test_a_clock_far_east_of_utc_is_stored_as_the_same_moment_in_utc(tracker):
    # Found by the OpenAPI fuzzing on PostgreSQL: an offset past +15:59 was a 503 there.
    answer = tracker.post("track", track(originalTimestamp="2026-01-01T00:00:00+21:11"))
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    event = Event.objects.get()
    assert event.occurred_at.isoformat() == "2025-12-31T02:49:00+00:00"


def test_page_calls_keep_url_referrer_and_utm_tags(tracker):
    page = {"anonymousId": "a", "name": "Pricing", "context": {
        "page": {"url": f"{BLOG}/pricing?utm_source=nl", "referrer": "https://google.com/"},
        "campaign": {"source": "nl", "medium": "email", "name": "spring"}}}  # fmt: skip
    assert tracker.post("page", page).status_code == 200
    event = Event.objects.get()
    assert (event.name, event.label) == (EventName.PAGE_VIEWED, "Pricing")
    assert event.properties["utm_campaign"] == "spring"
    assert event.properties["referrer"] == "https://google.com/"
    visitor = event.visitor
    assert (visitor.landing_url, visitor.utm_source, visitor.utm_medium) == (
        f"{BLOG}/pricing?utm_source=nl", "nl", "email")  # fmt: skip


def test_the_api_is_described_by_openapi_and_docs_need_no_cdn(client):
    schema = client.get("/v1/openapi.json").json()
    assert {"/v1/track", "/v1/identify", "/v1/page", "/v1/alias", "/v1/batch", "/v1/import"} <= set(
        schema["paths"]
    )
    docs = client.get("/v1/docs").content.decode()
    assert "cdn." not in docs and "unpkg" not in docs


def test_nul_characters_and_lone_surrogates_are_stored_without_them(tracker):
    """PostgreSQL text cannot hold NUL; JSON can send it. It is dropped, never a 5xx."""
    raw = b'{"anonymousId": "a\\u0000b", "event": "x\\ud800", "properties": {"k\\u0000": "v"}}'
    assert tracker.post("track", None, raw=raw).status_code == 200
    event = Event.objects.get()
    assert (event.visitor.anonymous_id, event.label, event.properties) == ("ab", "x?", {"k": "v"})


def test_nan_and_infinity_refuse_their_message_alone_never_a_5xx(tracker):
    """Python's JSON reader takes NaN, Infinity and 1e999 (analytics-python sends NaN); no JSON
    column can hold them. The message holding one is refused by its path; the rest are kept."""
    raw = (b'{"batch": [{"type": "track", "event": "a", "anonymousId": "v", "messageId": "ok"},'
           b' {"type": "track", "event": "b", "anonymousId": "v", "messageId": "nan",'
           b'  "properties": {"scores": [1, NaN]}},'
           b' {"type": "track", "event": "c", "anonymousId": "v", "messageId": "inf",'
           b'  "properties": {"big": 1e999}}]}')  # fmt: skip
    answer = tracker.post("batch", None, raw=raw)
    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    assert [(r["messageId"], r["field"]) for r in answer.json()["rejected"]] == [
        ("nan", "batch[1].properties.scores.1"),
        ("inf", "batch[2].properties.big"),
    ]
    assert "send null" in answer.json()["rejected"][0]["message"]
    assert Event.objects.get().label == "a"
    single = b'{"event": "x", "anonymousId": "v", "properties": {"v": -Infinity}}'
    answer = tracker.post("track", None, raw=single)
    assert answer.status_code == 400 and answer.json()["field"] == "properties.v"
    answer = tracker.post("batch", None, raw=b'{"context": {"x": NaN}, "batch": []}')
    assert answer.status_code == 400 and answer.json()["field"] == "context.x"


def nested(depth: int) -> bytes:
    """A track call whose property holds lists `depth` levels deep (the message is one more)."""
    inner = b"[" * depth + b"]" * depth
    return b'{"event": "x", "anonymousId": "v", "properties": {"v": ' + inner + b"}}"


@pytest.mark.parametrize("depth", [30, 31, 200, 950, 5000])
def test_deep_nesting_is_refused_by_its_path_never_a_5xx(tracker, depth):
    """Deep values exhaust the stack of whatever reads them next (the size check, the database's
    JSON functions): up to the limit they are stored, beyond it refused with a 400."""
    answer = tracker.post("track", None, raw=nested(depth))
    if depth <= 30:  # the message, its properties and 30 levels of lists: 32 in all
        assert answer.status_code == 200
    else:
        assert answer.status_code == 400, answer.content
        assert answer.json()["field"] in ("properties.v" + ".0" * (segment.MAX_DEPTH - 2), "body")


def test_raw_surrogate_bytes_are_stored_without_them(tracker):
    raw = b'{"anonymousId": "a", "event": "x\xed\xa0\x80y"}'
    assert tracker.post("track", None, raw=raw).status_code == 200
    assert Event.objects.get().label == "x?y"
