"""CRM webhooks: signed payloads a real HTTP server receives and verifies with the documented
recipe, one delivery per event, retries with backoff, dead letters, and workers that die or
race (SQLite and PostgreSQL)."""

import datetime as dt
import decimal
import hashlib
import hmac
import io
import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from yesladder.automation import hooks
from yesladder.automation.models import Hook, HookDelivery
from yesladder.leads.models import Lead

DOC = Path(__file__).resolve().parent.parent / "docs" / "crm-webhooks.md"
State = HookDelivery.State


class Receiver:
    """A CRM on loopback: records each POST and answers with `status` (and `location`)."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.requests: list[tuple[str, dict, bytes]] = []
        self.status, self.location, self.answer = 200, None, b"ok"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/crm/in?source=yesladder"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    crm = Receiver()
    yield crm
    crm.stop()


@pytest.fixture
def hook(db, receiver):
    return Hook.objects.create(url=receiver.url, topics=["*"], allow_private=True)


def recipe():
    """The verification function exactly as docs/crm-webhooks.md shows it."""
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    scope: dict = {}
    exec(compile(code, str(DOC), "exec"), scope)  # noqa: S102 (our own docs)
    return scope["verify_yesladder"]


# --- signing ---------------------------------------------------------------------------------

SECRET = "s3cr3t-128-bits-of-it"
BODY = b'{"id":"e1","topic":"lead.created"}'
NOW = 1_767_225_600


def with_clock_at(moment: float, call):
    with mock.patch.object(time, "time", return_value=moment):
        return call()


def headers_at(timestamp: int, body: bytes = BODY, secret: str = SECRET) -> dict:
    return hooks.signed_headers(secret, "lead.created", "1:e1", body, now=timestamp)


def test_a_signed_body_verifies_and_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    headers = headers_at(NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Yesladder-Signature"] == f"v1={expected}"
    assert headers["X-Yesladder-Timestamp"] == str(NOW)
    assert hooks.verify(SECRET, headers, BODY, now=NOW)
    lower = {name.lower(): value for name, value in headers.items()}  # as many frameworks give
    assert hooks.verify(SECRET, lower, BODY, now=NOW)
    pair = (headers["X-Yesladder-Timestamp"], headers["X-Yesladder-Signature"])
    assert hooks.verify(SECRET, pair, BODY, now=NOW)


def test_tampering_a_wrong_secret_and_a_stale_or_future_timestamp_are_rejected():
    headers = headers_at(NOW)
    assert not hooks.verify(SECRET, headers, BODY.replace(b"e1", b"e2"), now=NOW)
    assert not hooks.verify("another-secret", headers, BODY, now=NOW)
    assert hooks.verify(SECRET, headers, BODY, now=NOW + 300)
    assert hooks.verify(SECRET, headers, BODY, now=NOW - 300)
    assert not hooks.verify(SECRET, headers, BODY, now=NOW + 301)  # replayed later
    assert not hooks.verify(SECRET, headers, BODY, now=NOW - 301)  # from the future
    # The timestamp is signed: moving it to look fresh breaks the signature.
    moved = {**headers, "X-Yesladder-Timestamp": str(NOW + 1000)}
    assert not hooks.verify(SECRET, moved, BODY, now=NOW + 1000)


@pytest.mark.parametrize(
    "change",
    [
        {"X-Yesladder-Signature": None},
        {"X-Yesladder-Timestamp": None},
        {"X-Yesladder-Timestamp": "soon"},
        {"X-Yesladder-Signature": "v0=abc"},
        {"X-Yesladder-Signature": "v1=é"},
        {"X-Yesladder-Signature": ""},
    ],
)
def test_missing_or_malformed_signature_headers_are_rejected_not_raised(change):
    headers = {k: v for k, v in {**headers_at(NOW), **change}.items() if v is not None}
    assert not hooks.verify(SECRET, headers, BODY, now=NOW)
    assert with_clock_at(NOW, lambda: recipe()(SECRET, headers, BODY)) is False


def test_the_documented_recipe_agrees_with_verify():
    verify_yesladder = recipe()
    good = headers_at(NOW)
    assert with_clock_at(NOW, lambda: verify_yesladder(SECRET, good, BODY))
    assert not with_clock_at(NOW, lambda: verify_yesladder(SECRET, good, BODY + b" "))
    assert not with_clock_at(NOW, lambda: verify_yesladder("wrong", good, BODY))
    assert not with_clock_at(NOW + 301, lambda: verify_yesladder(SECRET, good, BODY))
    assert not with_clock_at(NOW - 301, lambda: verify_yesladder(SECRET, good, BODY))


# --- publishing ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_publish_writes_one_delivery_per_hook_that_wants_the_topic():
    everything = Hook.objects.create(url="https://a.example.com/", topics=["*"])
    steps = Hook.objects.create(url="https://b.example.com/", topics=["step.completed"])
    Hook.objects.create(url="https://c.example.com/", topics=["*"], active=False)
    lead = Lead.objects.create(email="ada@example.com")
    data = {"email": lead.email, "amount": decimal.Decimal("7.95"),
            "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}  # fmt: skip
    assert hooks.publish(hooks.LEAD_CREATED, data, lead=lead, key="lead.created:1") == 1
    assert hooks.publish(hooks.STEP_COMPLETED, {"step": "call"}, key="step:1:call") == 2
    assert sorted(HookDelivery.objects.values_list("key", flat=True)) == sorted(
        [f"{everything.pk}:lead.created:1", f"{everything.pk}:step:1:call",
         f"{steps.pk}:step:1:call"]
    )  # fmt: skip
    created = HookDelivery.objects.get(topic="lead.created")
    assert created.lead == lead and created.state == State.QUEUED
    envelope = created.payload
    assert envelope["id"] == "lead.created:1" and envelope["topic"] == "lead.created"
    assert envelope["created_at"].endswith("Z")
    assert dt.datetime.fromisoformat(envelope["created_at"]) <= timezone.now()
    assert envelope["data"] == {"email": "ada@example.com", "amount": "7.95",
                                "at": "2026-01-01T00:00:00Z"}  # fmt: skip


@pytest.mark.django_db
def test_the_same_event_published_twice_makes_one_delivery():
    Hook.objects.create(url="https://a.example.com/", topics=["lead.tagged"])
    assert hooks.publish(hooks.LEAD_TAGGED, {"tag": "vip"}, key="tag:1:vip") == 1
    assert hooks.publish(hooks.LEAD_TAGGED, {"tag": "vip"}, key="tag:1:vip") == 0
    assert HookDelivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("topic", ["*", "Lead Created", "x\r\nX-Injected: 1", ""])
def test_a_topic_that_cannot_travel_in_a_header_is_refused_when_published(topic):
    Hook.objects.create(url="https://a.example.com/", topics=["*"])
    with pytest.raises(ValueError, match="topic name"):
        hooks.publish(topic, {}, key="k1")
    assert not HookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["event:1:their id", "event:1:é", "k\r\nX-Injected: 1", "k" * 181])
def test_a_key_that_cannot_travel_in_a_header_is_replaced_by_its_digest(key, hook, receiver):
    assert hooks.publish(hooks.STEP_COMPLETED, {}, key=key) == 1
    assert hooks.publish(hooks.STEP_COMPLETED, {}, key=key) == 0  # still one per event
    assert hooks.publish(hooks.STEP_COMPLETED, {}, key=key + "2") == 1
    first = HookDelivery.objects.order_by("pk").first()
    assert re.fullmatch(rf"{hook.pk}:sha256:[0-9a-f]{{64}}", first.key)
    assert first.payload["id"] == first.key.split(":", 1)[1]
    assert hooks.deliver_due("w1") == 2
    assert {headers["X-Yesladder-Delivery"] for _, headers, _ in receiver.requests} == set(
        HookDelivery.objects.values_list("key", flat=True)
    )


@pytest.mark.django_db
def test_an_event_whose_transaction_rolls_back_is_never_delivered():
    Hook.objects.create(url="https://a.example.com/", topics=["*"])
    with pytest.raises(RuntimeError), transaction.atomic():
        assert hooks.publish("quiz.result", {"outcome": "high"}, key="quiz:1") == 1
        raise RuntimeError("the decision failed")
    assert not HookDelivery.objects.exists()


# --- delivering ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_delivery_reaches_the_crm_signed_and_verifies_with_the_recipe(hook, receiver):
    lead = Lead.objects.create(email="ada@example.com")
    hooks.publish(hooks.STEP_COMPLETED, {"email": lead.email, "step": "call"}, lead=lead,
                  key="step:7:call")  # fmt: skip
    assert hooks.deliver_due("w1") == 1
    ((path, headers, body),) = receiver.requests
    assert path == "/crm/in?source=yesladder"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Yesladder-Event"] == "step.completed"
    assert headers["X-Yesladder-Delivery"] == f"{hook.pk}:step:7:call"
    assert headers["Host"] == receiver.url.split("/")[2]
    assert hooks.verify(hook.secret, headers, body)
    assert recipe()(hook.secret, headers, body)
    assert not recipe()(hook.secret, headers, body.replace(b"call", b"cal1"))
    sent = json.loads(body)
    assert sent["id"] == "step:7:call" and sent["data"] == {"email": lead.email, "step": "call"}
    delivery = HookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (State.SENT, 1, 200)
    assert delivery.sent_at is not None and delivery.claimed_at is None
    assert hooks.deliver_due("w1") == 0  # sent once, never again


@pytest.mark.django_db
def test_a_failing_crm_is_retried_with_backoff_then_dead_lettered(hook, receiver, settings):
    settings.OUTBOX_MAX_ATTEMPTS, settings.OUTBOX_RETRY_SECONDS = 3, 60
    receiver.status, receiver.answer = 500, b"database is down"
    hooks.publish(hooks.LEAD_CREATED, {"email": "ada@example.com"}, key="lead:1")
    now = timezone.now()
    waits = []
    for attempt in (1, 2):
        assert hooks.deliver_due("w1", now=now) == 1
        delivery = HookDelivery.objects.get()
        assert (delivery.state, delivery.attempts, delivery.last_status) == ("queued", attempt, 500)
        assert "HTTP 500: database is down" in delivery.last_error
        waits.append((delivery.due_at - now).total_seconds())
        assert hooks.deliver_due("w1", now=now) == 0  # not due yet
        now = delivery.due_at
    assert 60 <= waits[0] <= 66 and 120 <= waits[1] <= 132  # doubled, with <= 10 % jitter
    assert hooks.deliver_due("w1", now=now) == 1
    delivery = HookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (State.DEAD, 3, 500)
    assert len(receiver.requests) == 3
    assert hooks.deliver_due("w1", now=now + dt.timedelta(days=2)) == 0


@pytest.mark.django_db
def test_a_failed_delivery_that_later_succeeds_is_sent(hook, receiver):
    receiver.status = 503
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    hooks.deliver_due("w1")
    receiver.status = 204
    assert hooks.deliver_due("w1", now=timezone.now() + dt.timedelta(hours=1)) == 1
    delivery = HookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (State.SENT, 2, 204)
    assert delivery.last_error == ""


def test_backoff_doubles_from_the_retry_setting_and_stops_at_a_day(settings):
    settings.OUTBOX_RETRY_SECONDS = 60
    for attempts, base in [(1, 60), (2, 120), (3, 240), (8, 7680), (20, 86400)]:
        waits = [hooks.backoff(attempts).total_seconds() for _ in range(20)]
        assert all(base <= w <= base * 1.1 for w in waits), (attempts, waits)


@pytest.mark.django_db
def test_a_claim_held_past_its_lease_is_taken_over_and_a_fresh_one_is_not(hook, receiver,
                                                                           settings):  # fmt: skip
    settings.OUTBOX_LEASE_SECONDS = 120
    now = timezone.now()
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:stale")
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:fresh")
    stale = HookDelivery.objects.get(key__endswith="lead:stale")
    fresh = HookDelivery.objects.get(key__endswith="lead:fresh")
    HookDelivery.objects.filter(pk=stale.pk).update(
        state=State.SENDING, attempts=1, claimed_at=now - dt.timedelta(seconds=121)
    )  # a worker killed mid-send two minutes ago
    HookDelivery.objects.filter(pk=fresh.pk).update(
        state=State.SENDING, attempts=1, claimed_at=now - dt.timedelta(seconds=30)
    )  # a worker still busy with it
    assert hooks.deliver_due("w2", now=now) == 1
    stale.refresh_from_db(), fresh.refresh_from_db()
    assert (stale.state, stale.attempts) == (State.SENT, 2)
    assert (fresh.state, fresh.attempts) == (State.SENDING, 1)
    ((_, headers, _),) = receiver.requests
    assert headers["X-Yesladder-Delivery"] == stale.key


@pytest.mark.django_db
def test_a_worker_lost_during_the_last_try_leaves_a_dead_letter(hook, receiver, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    HookDelivery.objects.update(state=State.SENDING, attempts=3,
                                claimed_at=timezone.now() - dt.timedelta(days=1))  # fmt: skip
    assert hooks.deliver_due("w1") == 0
    delivery = HookDelivery.objects.get()
    assert delivery.state == State.DEAD and "last try" in delivery.last_error
    assert receiver.requests == []


@pytest.mark.django_db
def test_an_inactive_hook_keeps_its_deliveries_waiting(hook, receiver):
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    Hook.objects.update(active=False)
    assert hooks.deliver_due("w1") == 0
    Hook.objects.update(active=True)
    assert hooks.deliver_due("w1") == 1
    assert len(receiver.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_deliver_each_event_exactly_once(receiver):
    Hook.objects.create(url=receiver.url, topics=["*"], allow_private=True)
    for i in range(40):
        hooks.publish(hooks.STEP_COMPLETED, {"n": i}, key=f"step:{i}")
    barrier = threading.Barrier(2)

    def work(worker_id):
        try:
            barrier.wait()
            while hooks.deliver_due(worker_id, limit=3):
                pass
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(f"w{n}",)) for n in (1, 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    keys = [headers["X-Yesladder-Delivery"] for _, headers, _ in receiver.requests]
    assert len(keys) == 40 and len(set(keys)) == 40
    assert HookDelivery.objects.filter(state=State.SENT, attempts=1).count() == 40


# --- the command -----------------------------------------------------------------------------


def hooks_command(*args) -> str:
    out = io.StringIO()
    call_command("hooks", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_adds_lists_shows_deliveries_and_removes(receiver, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich's width off a terminal: URLs on one line
    added = hooks_command("add", receiver.url, "--topic", "lead.created", "--topic",
                          "step.completed", "--allow-private")  # fmt: skip
    hook = Hook.objects.get()
    assert hook.secret in added and hook.allow_private
    assert hook.topics == ["lead.created", "step.completed"]
    listed = hooks_command("list")
    assert receiver.url in listed and hook.secret not in listed  # the secret is shown once
    receiver.status = 500
    hooks.publish(hooks.LEAD_CREATED, {}, key="lead:1")
    hooks.deliver_due("w1")
    shown = hooks_command("deliveries")
    assert "lead.created" in shown and "queued" in shown and "HTTP 500" in shown
    assert "No deliveries" in hooks_command("deliveries", "--dead")
    assert "Removed hook" in hooks_command("remove", str(hook.pk))
    assert not HookDelivery.objects.exists()
    with pytest.raises(CommandError, match="No hook"):
        hooks_command("remove", str(hook.pk))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://crm.example.com/in", "not an http or https URL"),
        ("crm.example.com/in", "not an http or https URL"),
        ("https:///in", "no host name"),
        ("https://user:pw@crm.example.com/in", "credentials in the URL"),
        ("https://crm.example.com:99999/in", "invalid port"),
        ("https://crm.example.com/" + "x" * 2000, "longer than 2000"),
    ],
)
def test_the_command_refuses_a_bad_url_with_a_clear_message(url, message):
    with pytest.raises(CommandError, match=message):
        hooks_command("add", url, "--topic", "*")
    assert not Hook.objects.exists()


@pytest.mark.django_db
def test_the_command_refuses_a_bad_topic_name():
    with pytest.raises(CommandError, match="not a topic name"):
        hooks_command("add", "https://crm.example.com/", "--topic", "Lead Created")


def test_new_leads_and_unsubscribes_reach_the_crm(db):
    from yesladder.automation import bounces
    from yesladder.automation.models import Hook, HookDelivery
    from yesladder.leads.models import Visitor
    from yesladder.tracking.identity import identify

    Hook.objects.create(url="https://crm.example.com/in", topics=["*"])
    lead = identify(Visitor.objects.create(), "ada@example.com", {}, None)
    identify(Visitor.objects.create(), "ada@example.com", {}, None)  # known: no second one
    bounces.suppress("Ada@Example.com", "unsubscribed")
    bounces.suppress("ada@example.com", "unsubscribed")
    topics = list(HookDelivery.objects.order_by("pk").values_list("topic", "lead_id"))
    assert topics == [("lead.created", lead.pk), ("lead.unsubscribed", lead.pk)]


def test_a_known_lead_s_profile_change_reaches_the_crm_once(db):
    from yesladder.automation.models import Hook, HookDelivery
    from yesladder.leads.models import Visitor
    from yesladder.leads.services import fill_profile
    from yesladder.tracking.identity import identify

    Hook.objects.create(url="https://crm.example.com/in", topics=["lead.created", "lead.updated"])
    lead = identify(Visitor.objects.create(), "ada@example.com", {"first_name": "Ada"}, None)
    identify(Visitor.objects.create(), "ada@example.com", {"first_name": "Ada"}, None)  # same
    identify(Visitor.objects.create(), "ada@example.com", {"company": "Engines"}, None)
    lead.refresh_from_db()
    fill_profile(lead, {"company": "Engines"})  # nothing new: nothing to say
    deliveries = [(d.topic, d.payload["data"]) for d in HookDelivery.objects.order_by("pk")]
    assert [topic for topic, _ in deliveries] == ["lead.created", "lead.updated"]
    assert deliveries[0][1]["lead"]["profile"] == {"first_name": "Ada"}  # created, filled
    updated = deliveries[1][1]
    assert updated["changed"] == ["company"]
    assert updated["lead"]["profile"] == {"first_name": "Ada", "company": "Engines"}
