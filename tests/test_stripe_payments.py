"""Stripe: webhooks verified on the raw body with the 300 s tolerance, each event applied once
(also when delivered three times, or ten times at once), events in any order converging to
one state, and Checkout Sessions created with idempotency keys derived from the order (a
local stub stands in for api.stripe.com: this machine has no internet)."""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.utils import timezone

from tests.conftest import journey_with_lead
from yesladder.offers import services
from yesladder.offers.models import Order, ProviderEvent
from yesladder.offers.stripe_provider import StripeProvider
from yesladder.tracking.models import Event

SECRET = "whsec_test_secret"
SEED_004 = Path(__file__).resolve().parent.parent / "examples" / "seed004-trial.yaml"
URL = "/webhooks/stripe/"


@pytest.fixture
def stripe_settings(settings):
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_SECRET_KEY = "sk_test_local"
    return settings


def signed(event: dict, at: int | None = None, secret: str = SECRET) -> tuple[bytes, str]:
    """The documented recipe: v1 = HMAC-SHA256(secret, "<t>.<raw body>")."""
    body = json.dumps(event).encode()
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={at},v1={mac}"


def deliver(client, event: dict, **kwargs):
    body, signature = signed(event, **kwargs)
    return client.post(URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature)


def stripe_event(event_id: str, type_: str, obj: dict) -> dict:
    return {"id": event_id, "object": "event", "type": type_, "api_version": "2026-10-28",
            "created": int(time.time()), "data": {"object": obj}}  # fmt: skip


def trial_order() -> Order:
    journey = journey_with_lead(yaml.safe_load(SEED_004.read_text()))
    step = journey.version.spec.step("trial")
    return services.place_order(journey, step, journey.visitor.lead, "stripe", timezone.now())


def session_completed(order: Order, event_id: str = "evt_session") -> dict:
    return stripe_event(event_id, "checkout.session.completed", {
        "id": "cs_test_1", "object": "checkout.session",
        "client_reference_id": str(order.reference),
        "metadata": {"order": str(order.reference)}, "payment_status": "paid",
        "customer": "cus_1", "subscription": "sub_1", "payment_intent": None,
    })  # fmt: skip


def invoice_paid(order: Order, number: int) -> dict:
    reason = "subscription_create" if number == 0 else "subscription_cycle"
    period = int(order.charges.get(number=number).due_at.timestamp()) + 60
    return stripe_event(f"evt_invoice_{number}", "invoice.paid", {
        "id": f"in_{number}", "object": "invoice", "billing_reason": reason,
        "lines": {"object": "list", "data": [{"period": {"start": period, "end": period}}]},
        "parent": {"subscription_details": {"subscription": "sub_1",
                                            "metadata": {"order": str(order.reference)}}},
    })  # fmt: skip


@pytest.mark.django_db
def test_a_good_webhook_is_applied_once_even_when_delivered_three_times(client, stripe_settings):
    order = trial_order()
    event = session_completed(order)
    answers = [deliver(client, event) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.content for a in answers] == [b"applied", b"already applied", b"already applied"]
    order.refresh_from_db()
    assert order.state == "active" and order.subscription_id == "sub_1"
    assert order.customer_id == "cus_1" and order.revenue() == 795
    assert ProviderEvent.objects.count() == 1
    assert Event.objects.filter(name="paid").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "how",
    ["wrong secret", "tampered body", "301 s old", "301 s ahead", "no header", "not json"],
)
def test_a_bad_webhook_is_rejected_with_400_and_changes_nothing(client, stripe_settings, how):
    order = trial_order()
    event = session_completed(order)
    now = int(time.time())
    secret = "whsec_other" if how == "wrong secret" else SECRET
    at = {"301 s old": now - 301, "301 s ahead": now + 301}.get(how)
    body, signature = signed(event, secret=secret, at=at)
    if how == "tampered body":
        body = body.replace(b'"paid"', b'"unpaid"')
    if how == "not json":
        body, signature = signed({"id": 1})[0][:5], signed({"id": 1})[1]
    headers = {} if how == "no header" else {"HTTP_STRIPE_SIGNATURE": signature}
    answer = client.post(URL, body, content_type="application/json", **headers)
    assert answer.status_code == 400
    order.refresh_from_db()
    assert order.state == "pending" and order.revenue() == 0
    assert not ProviderEvent.objects.exists() and not Event.objects.filter(name="paid").exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_event_ten_times_at_once_is_fulfilled_exactly_once(stripe_settings):
    order = trial_order()
    body, signature = signed(session_completed(order))
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def send():
        try:
            barrier.wait()
            answer = Client().post(URL, body, content_type="application/json",
                                   HTTP_STRIPE_SIGNATURE=signature)  # fmt: skip
            statuses.append(answer.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 10
    assert Event.objects.filter(name="paid").count() == 1
    assert Order.objects.get().paid() == 795


@pytest.mark.django_db
def test_events_in_every_order_converge_to_the_same_state(client, stripe_settings):
    """Stripe does not promise order: all 120 orders of five events end the same way."""
    finals = set()
    for permutation in itertools.permutations(range(5)):
        ProviderEvent.objects.all().delete()
        order = trial_order()
        events = [session_completed(order)] + [invoice_paid(order, n) for n in range(4)]
        for index in permutation:
            assert deliver(client, events[index]).status_code == 200
        order.refresh_from_db()
        charges = tuple(order.charges.values_list("number", "state", "payment_id"))
        finals.add((order.state, order.revenue(), order.subscription_id, charges))
        Order.objects.filter(pk=order.pk).update(journey=None)
    assert finals == {
        (
            "completed",
            14895,
            "sub_1",
            ((0, "paid", "in_0"), (1, "paid", "in_1"), (2, "paid", "in_2"), (3, "paid", "in_3")),
        )
    }


class StubStripe(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"] or 0)).decode()
        self.requests.append((self.path, dict(self.headers), parse_qs(body)))
        answer = {"id": "cs_test_stub", "object": "checkout.session",
                  "url": "https://checkout.stripe.com/c/pay/cs_test_stub"}  # fmt: skip
        if "/subscriptions/" in self.path:
            answer = {"id": "sub_1", "object": "subscription", "status": "canceled"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_DELETE = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_stripe(stripe_settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubStripe)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_port}"
    StubStripe.requests = []
    yield StubStripe.requests
    server.shutdown()


@pytest.mark.django_db
def test_the_trial_plan_becomes_a_subscription_checkout_with_an_idempotency_key(stub_stripe):
    order = trial_order()
    provider = StripeProvider()
    first = provider.start_checkout(order, "https://x.test/done", "https://x.test/back")
    again = provider.start_checkout(order, "https://x.test/done", "https://x.test/back")
    assert first == again and first.url.startswith("https://checkout.stripe.com/")
    (path, headers, form), (_, retry_headers, _) = stub_stripe
    assert path == "/v1/checkout/sessions"
    assert (
        headers["Idempotency-Key"]
        == retry_headers["Idempotency-Key"]
        == (f"yesladder-{order.reference}-checkout")
    )
    assert form["mode"] == ["subscription"]
    assert form["line_items[0][price_data][unit_amount]"] == ["4700"]
    assert form["line_items[0][price_data][recurring][interval]"] == ["week"]
    assert form["line_items[1][price_data][unit_amount]"] == ["795"]  # the paid trial, now
    assert form["subscription_data[trial_period_days]"] == ["7"]
    assert form["client_reference_id"] == [str(order.reference)]
    assert form["success_url"] == ["https://x.test/done?session_id={CHECKOUT_SESSION_ID}"]


@pytest.mark.django_db
def test_the_subscription_is_cancelled_after_the_last_instalment(
    client, stub_stripe, django_capture_on_commit_callbacks
):
    order = trial_order()
    with django_capture_on_commit_callbacks(execute=True):
        for event in [session_completed(order)] + [invoice_paid(order, n) for n in range(4)]:
            deliver(client, event)
    assert [path for path, _, _ in stub_stripe] == ["/v1/subscriptions/sub_1"]


@pytest.mark.django_db
def test_a_late_payment_failure_of_a_paid_invoice_changes_nothing(client, stripe_settings):
    order = trial_order()
    deliver(client, session_completed(order))
    paid = invoice_paid(order, 1)
    failed = {**paid, "id": "evt_failed_1", "type": "invoice.payment_failed"}
    failed["data"] = {"object": {**paid["data"]["object"], "status": "open"}}
    deliver(client, paid)
    deliver(client, failed)
    order.refresh_from_db()
    assert order.state == "active"
    assert list(order.charges.values_list("state", flat=True)) == [
        "paid", "paid", "scheduled", "scheduled"]  # fmt: skip
