"""The server-side tracking libraries people already run, unchanged, pointed at a live yesladder:
Segment's and RudderStack's Python libraries and Segment's Node.js library, each making its own
HTTP calls. For each: identify finds the lead and stitches the anonymous history of two devices
into one person, a step action moves the journey, a batch whose answer was lost and that the
library sends again is stored once, and a wrong key is refused through the library's own error
path, once (4xx is not retried)."""

import json
import shutil
import subprocess

import pytest
from rudderstack.analytics.client import Client as RudderStackClient
from segment.analytics.client import Client as SegmentClient

from tests.tracking_clients import (
    CALLS,
    JS,
    NEEDS_NODE_MODULES,
    Witness,
    assert_one_person_who_moved_on,
    ladder,
    snake_case,
    with_screen,
)

pytestmark = pytest.mark.django_db(transaction=True)
LIBRARIES = {"segment-analytics-python": SegmentClient, "rudder-sdk-python": RudderStackClient}


def send_from_python(library: str, host: str, key: str, calls: list) -> list:
    """Make the calls with the library's own client; returns what its on_error was told."""
    errors = []
    client = LIBRARIES[library](
        write_key=key, host=host, upload_size=20, upload_interval=0.05, gzip=True,
        max_retries=3, on_error=lambda error, batch: errors.append(error),
    )  # fmt: skip
    for method, params in calls:
        getattr(client, method)(**snake_case(params))
    client.flush()
    client.shutdown()
    return errors


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_python_library_s_calls_make_one_person_who_moves_on(
    library, live_server, write_key, monkeypatch
):
    ladder()
    witness = Witness(monkeypatch, lose_first=True)
    calls = with_screen(CALLS)

    assert send_from_python(library, live_server.url, write_key.key, calls) == []

    assert witness.statuses[0] == 503 and witness.statuses[-1] == 200  # sent again, once more
    assert_one_person_who_moved_on(calls)


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_python_library_is_told_a_wrong_key_once(library, live_server, write_key, monkeypatch):
    witness = Witness(monkeypatch)
    calls = [("track", {"anonymousId": "phone", "event": "Opened"})]

    errors = send_from_python(library, live_server.url, "not-a-key", calls)

    assert [(error.status, error.code) for error in errors] == [(401, "invalid_write_key")]
    assert witness.quiet_for(0.3) == [401]


def send_from_node(host: str, key: str, calls: list) -> list:
    """Make the calls with Segment's Node.js library; returns its error events."""
    done = subprocess.run(
        [shutil.which("node") or "node", str(JS / "analytics_node.mjs"), host, key],
        input=json.dumps(calls), capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)["errors"]


@NEEDS_NODE_MODULES
def test_segment_s_node_library_s_calls_make_one_person_who_moves_on(
    live_server, write_key, monkeypatch
):
    ladder()
    witness = Witness(monkeypatch, lose_first=True)
    calls = with_screen(CALLS)

    assert send_from_node(live_server.url, write_key.key, calls) == []

    assert witness.statuses[0] == 503 and witness.statuses[-1] == 200
    assert_one_person_who_moved_on(calls)


@NEEDS_NODE_MODULES
def test_segment_s_node_library_is_told_a_wrong_key_once(live_server, write_key, monkeypatch):
    witness = Witness(monkeypatch)
    calls = [["track", {"anonymousId": "phone", "event": "Opened"}]]

    errors = send_from_node(live_server.url, "not-a-key", calls)

    assert errors == [{"code": "delivery_failure", "reason": "Error: [401] Unauthorized"}]
    assert witness.quiet_for(0.3) == [401]
