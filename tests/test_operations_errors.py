"""Errors reach someone (issue 34): a failing request is reported to Sentry, captured here by a
transport of our own, with no email address, name or IP address left anywhere in the event;
logs are JSON lines with the request's id when YESLADDER_LOG_FORMAT=json."""

import json
import subprocess
import sys
import textwrap

import pytest
import sentry_sdk
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from sentry_sdk.transport import Transport

from yesladder.operations import errors

EMAIL, NAME = "ada.lovelace@example.com", "Ada Lovelace"
ADDRESS, FORWARDED, SIX = "203.0.113.9", "198.51.100.4", "2001:db8::77"


class Captured(Transport):
    events: list[dict] = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                Captured.events.append(json.loads(item.payload.get_bytes()))


@pytest.fixture
def reported():
    Captured.events = []
    errors.setup("https://public@sentry.example.invalid/1", transport=Captured)
    yield Captured.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: reporting off again for the rest of the suite


@pytest.mark.urls("tests.failing_urls")
def test_a_failing_request_reaches_sentry_without_personal_data(reported):
    """Through Django's WSGI handler, as `yesladder serve` runs it (Sentry hooks in there)."""
    request = RequestFactory().post(
        f"/fails/?email={EMAIL}&name=Ada+Lovelace&utm_source=newsletter",
        {"email": EMAIL, "first_name": "Ada", "name": NAME}, REMOTE_ADDR=ADDRESS,
        HTTP_X_FORWARDED_FOR=f"{FORWARDED}, {SIX}", HTTP_USER_AGENT=f"Browser of {NAME}",
        HTTP_COOKIE="yl_vid=visitor-cookie-value", HTTP_HOST="localhost",
    )  # fmt: skip
    statuses = []
    b"".join(WSGIHandler()(request.environ, lambda status, headers: statuses.append(status)))
    assert statuses == ["500 Internal Server Error"]
    sentry_sdk.flush()
    (event,) = reported
    assert event["exception"]["values"][0]["type"] == "ValueError"
    assert "could not mail [email] from [ip]" in event["exception"]["values"][0]["value"]
    assert event["request"]["url"].endswith("/fails/")
    assert "utm_source=newsletter" in event["request"]["query_string"]
    text = json.dumps(event)
    for personal in (EMAIL, "ada.lovelace", NAME, "Lovelace", ADDRESS, FORWARDED, SIX,
                     "visitor-cookie-value"):  # fmt: skip
        assert personal not in text, personal
    assert event["contexts"]["runtime"]["name"] == "CPython"  # not everything called a name


def test_json_logs_carry_the_request_id(tmp_path):
    code = textwrap.dedent(
        """
        import django, logging
        django.setup()
        from django.test import Client
        answer = Client(HTTP_HOST="localhost", HTTP_X_REQUEST_ID="req-1234abcd").get("/nowhere/")
        print("ANSWER", answer["X-Request-ID"])
        logging.getLogger("yesladder.test").warning("outside any request")
        """
    )
    env = {"YESLADDER_HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "yesladder.settings",
           "YESLADDER_LOG_FORMAT": "json", "YESLADDER_LOG_LEVEL": "WARNING"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "ANSWER req-1234abcd" in done.stdout
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    not_found = next(line for line in lines if line["logger"] == "django.request")
    assert not_found["level"] == "warning" and not_found["request_id"] == "req-1234abcd"
    assert not_found["message"].startswith("Not Found: /nowhere/")
    assert not_found["time"].endswith("Z")
    outside = next(line for line in lines if line["logger"] == "yesladder.test")
    assert outside["request_id"] == ""
