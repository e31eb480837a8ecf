import copy
import os
import shutil
import subprocess
import sys
import threading
from contextlib import contextmanager

import pytest
import yaml
from django.db import connections

from tests.clickhouse_fixtures import clickhouse, clickhouse_cluster  # noqa: F401 (fixtures)
from yesladder.funnels.spec import parse_spec

CLOCK_SITE = os.path.join(os.path.dirname(__file__), "clock")


def pytest_addoption(parser):
    parser.addoption(
        "--clock", metavar="MOMENT",
        help="run the whole suite as if the wall clock read MOMENT (ISO 8601 with an offset, "
        "e.g. 2026-12-14T00:30+00:00), ticking from there; processes the tests start move too. "
        "No test may depend on the day it runs: this is how that is proved.",
    )  # fmt: skip


def pytest_configure(config):
    moment = config.getoption("--clock")
    if not moment:
        return
    import datetime as dt
    import time

    import time_machine

    when = dt.datetime.fromisoformat(moment)
    if when.tzinfo is None:
        raise pytest.UsageError("--clock needs an offset, e.g. 2026-12-14T00:30+00:00")
    shift = when.timestamp() - time.time()
    os.environ["YESLADDER_TEST_CLOCK_SHIFT"] = repr(shift)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [CLOCK_SITE, os.environ.get("PYTHONPATH")])
    )
    time_machine.travel(when, tick=True).start()


def pytest_report_header(config):
    moment = config.getoption("--clock")
    return f"clock moved to {moment}" if moment else None


@pytest.fixture(autouse=True)
def _ladders_as_written(request, monkeypatch):
    """The examples carry a running experiment (seed 003's): tests of pages, payments and
    reports walk the ladder as written, and only tests marked `experiments` assign people to
    variants, so neither depends on which side of a hash a visitor falls."""
    if request.node.get_closest_marker("experiments") is None:
        from yesladder import seams

        monkeypatch.setattr(seams.STARTING_VERSION, "filled", None)


CLEAN_FUNNEL = {
    "funnel": "clean",
    "name": "A clean ladder",
    "steps": [
        {
            "key": "guide",
            "kind": "content",
            "title": "Guide",
            "value": "A short read",
            "cta": "Get the checklist",
            "body": "# Guide\n\nUseful words.",
        },
        {
            "key": "checklist",
            "kind": "magnet",
            "title": "Checklist",
            "value": "A checklist",
            "cta": "Send me the checklist",
            "ask": {"fields": ["email"]},
            "asset": {"name": "Checklist", "url": "https://example.com/checklist.pdf"},
        },
        {
            "key": "score",
            "kind": "quiz",
            "title": "Score",
            "value": "Your score",
            "cta": "Show my score",
            "questions": [
                {
                    "key": "q1",
                    "text": "Question?",
                    "options": [
                        {"key": "a", "label": "A", "scores": {"high": 1}},
                        {"key": "b", "label": "B", "scores": {"low": 1}},
                    ],
                }
            ],
            "outcomes": [
                {"key": "high", "title": "High", "body": "You score high."},
                {"key": "low", "title": "Low", "body": "You score low."},
            ],
        },
        {
            "key": "call",
            "kind": "booking",
            "title": "Call",
            "value": "A plan in 15 minutes",
            "cta": "Pick a slot",
            "timezone": "Europe/Berlin",
            "availability": {"mon": ["09:00-12:00"]},
            "agenda": {"will": ["Review your score"], "will_not": ["No pitch"]},
            "hosts": [{"name": "Ann", "email": "ann@example.com"}],
        },
        {
            "key": "program",
            "kind": "offer",
            "title": "Program",
            "value": "The program",
            "cta": "Start the program",
            "price": 290,
            "guarantee": {"days": 30},
            "macro": True,
        },
    ],
}


def funnel_dict() -> dict:
    return copy.deepcopy(CLEAN_FUNNEL)


def sourced_from(data: dict, file: str = "funnel.yaml"):
    return parse_spec(yaml.safe_dump(data, sort_keys=False), file)


@pytest.fixture
def clean():
    return funnel_dict()


class Inbox:
    """What a real SMTP server (aiosmtpd on loopback) received, parsed with Python's email."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        import email
        from email import policy

        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 5.0) -> list:
        import time

        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp(settings):
    """A real SMTP server; Django's SMTP backend talks to it over loopback."""
    from aiosmtpd.controller import Controller

    from yesladder.localserver import free_port

    port = free_port()  # aiosmtpd checks its own port, so it needs a fixed one
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    yield inbox
    controller.stop()


BLOG = "https://blog.example.com"


@pytest.fixture
def write_key(db):
    """A site that allows the blog's origin, with a fresh key; limits start full."""
    from yesladder.tracking import api, sites

    api.reset_limits()
    api.forget_write_keys()
    return sites.create_key("blog", [BLOG])


class Tracker:
    """Calls the tracking API through Django's test client, as a Segment library would."""

    def __init__(self, client, key):
        self.client, self.key = client, key

    def post(self, endpoint: str, body, key: str | None = None, raw: bytes | None = None,
             **headers):  # fmt: skip
        import base64
        import json

        key = self.key.key if key is None else key
        if key:
            headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        data = raw if raw is not None else json.dumps(body)
        return self.client.post(f"/v1/{endpoint}", data, content_type="application/json",
                                **headers)  # fmt: skip


@pytest.fixture
def tracker(client, write_key):
    return Tracker(client, write_key)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NEEDS_CHROMIUM = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (CI installs it)",
)


@pytest.fixture
def browser_page(monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between page actions are plain blocking calls, which Django allows when told so.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            viewport={"width": 390, "height": 844},  # a phone first
            accept_downloads=True,
            user_agent="Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 Chrome/156.0 Mobile",
        )
        yield context.new_page()
        context.close()
        browser.close()
        # The ORM calls made inside Playwright's context opened their own connection; close it
        # here, in that context, or PostgreSQL cannot drop the test database at the end.
        connections.close_all()


@contextmanager
def another_site(answer):
    """Someone else's site: a plain HTTP server on another port (another origin). `answer(path)`
    gives (body, content type), or None for a 404. Yields its origin."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Site(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's hook name)
            found = answer(self.path)
            if found is None:
                self.send_error(404)
                return
            body, kind = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def run_cli(*args, home, **kwargs):
    """A `yesladder` command in a child process on the embedded default in `home`."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # the embedded default
    env.update(YESLADDER_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "yesladder.cli", *args],
        env=env, capture_output=True, text=True, timeout=300, **kwargs,
    )  # fmt: skip


def journey_with_lead(data: dict, email: str = "ada@example.com"):
    """A funnel loaded from `data`, and a visitor known by `email` who started it."""
    from yesladder.funnels.models import current_version
    from yesladder.funnels.services import load_funnel
    from yesladder.leads.models import Lead, Visitor
    from yesladder.tracking.models import Journey

    load_funnel(sourced_from(data))
    version = current_version(data["funnel"])
    lead, _ = Lead.objects.get_or_create(email=email)
    visitor = Visitor.objects.create(lead=lead)
    first = version.spec.steps[0].key
    return Journey.objects.create(
        visitor=visitor, funnel=version.funnel, version=version, current_step=first
    )


@pytest.fixture
def heard(monkeypatch):
    """A reactor of every moment, registered the way an app does, removed after the test."""
    from django.db import transaction

    from yesladder import reactions

    log = []
    for moment in reactions.MOMENTS:
        monkeypatch.setitem(reactions._reactors, moment, reactions.reactors(moment))

        def react(moment=moment, **what):
            log.append((moment, what, transaction.get_connection().in_atomic_block))

        react.__qualname__ = f"heard_{moment.replace(' ', '_')}"
        reactions.register(moment, react, order=99)
    return log


@contextmanager
def database_of_its_own(url: str, purpose: str):
    """A PostgreSQL database beside the suite's, for child processes that connect themselves,
    dropped after. Named after the suite's database, so two suites on one server never share
    it."""
    import psycopg

    base, suite = url.rsplit("/", 1)
    name = f"{suite}_{purpose}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
