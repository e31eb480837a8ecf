"""Failed payments, handled (issue 31): `payment_failed` with the provider's reason, retries on
the offer's schedule (1, 3 and 5 days by default), an email with an update-card link each
time, the order `failed` after the last retry with the rest cancelled, a new card that pays
puts the order back on schedule (`payment_recovered`), automations trigger and exit on them,
the dashboard lists the orders at risk, and Stripe's own retries are followed."""

import datetime as dt
import json
import re
import threading
from http.server import ThreadingHTTPServer

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.test_stripe_payments import (  # noqa: F401 (fixtures)
    StubStripe,
    deliver,
    invoice_paid,
    session_completed,
    stripe_event,
    stripe_settings,
    stub_stripe,
    trial_order,
)
from tests.test_trial_cancel import (  # noqa: F401 (clock: the autouse fixture)
    MOMENT,
    buyer_pays_the_trial,
    clock,
    names,
    seed004,
    text_of,
)
from yesladder.automation.models import Enrollment
from yesladder.offers import links, services
from yesladder.offers.models import Order
from yesladder.tracking.models import Event

DAY = dt.timedelta(days=1)
TRIAL_ENDS = MOMENT + 7 * DAY
DECLINING = "bo+decline@example.com"
pytestmark = pytest.mark.django_db(transaction=True)


def card_link(message) -> str:
    return re.search(r"http://testserver(/o/[^/\s]+/card/)", text_of(message)).group(1)


def failures() -> list[dict]:
    return [e.properties for e in Event.objects.filter(name="payment_failed").order_by("id")]


def test_a_failing_instalment_is_retried_on_schedule_then_the_order_fails(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings, DECLINING)
    for day, retry in ((7, "2026-12-09T09:30:00+00:00"), (8, "2026-12-11T09:30:00+00:00"),
                       (10, "2026-12-13T09:30:00+00:00")):  # fmt: skip
        assert services.collect_due(MOMENT + day * DAY) == services.Collected(0, 1)
        assert services.collect_due(MOMENT + day * DAY) == services.Collected(0, 0)  # once
        order.refresh_from_db()
        assert order.state == "retrying" and failures()[-1]["retry_at"] == retry
    assert failures()[0] == {
        "order": str(order.reference), "currency": "USD", "amount": 4700, "number": 1,
        "reason": "Your card was declined (test).", "attempts": 1, "final": False,
        "retry_at": "2026-12-09T09:30:00+00:00"}  # fmt: skip
    mails = smtp.wait_for(4)
    assert [m["Subject"] for m in mails[1:]] == ["Your payment of $47.00 did not go through"] * 3
    assert "We will try again on 9 Dec 2026, 09:30 UTC" in text_of(mails[1])
    assert card_link(mails[1]) and "/cancel/" in text_of(mails[1])

    assert services.collect_due(MOMENT + 12 * DAY) == services.Collected(0, 1)  # the last retry
    order.refresh_from_db()
    assert order.state == "failed" and order.revenue() == 795
    assert list(order.charges.values_list("state", flat=True)) == [
        "paid", "failed", "cancelled", "cancelled"]  # fmt: skip
    assert failures()[-1]["final"] is True and failures()[-1]["attempts"] == 4
    stopped = smtp.wait_for(5)[4]
    assert (
        stopped["Subject"] == "Your order has stopped: 30-Day Business Turnaround, one-week trial"
    )
    assert "nothing more will be charged" in text_of(stopped)
    assert services.collect_due(MOMENT + 30 * DAY) == services.Collected(0, 0)
    assert names().count("payment_failed") == 4 and "payment_recovered" not in names()


def test_a_new_card_from_the_email_puts_the_order_back_on_schedule(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings, DECLINING)
    services.collect_due(TRIAL_ENDS)
    link = card_link(smtp.wait_for(2)[1])
    buyer = Client()
    page = buyer.get(link).content.decode()  # a scanner opening it changes nothing
    assert "Use card 4242 4242 4242 4242 (pays)" in page and "(declines)" in page
    assert "Your card was declined (test)." in page
    assert names().count("payment_failed") == 1

    declined = buyer.post(link, {"card": "declines"})
    assert declined.status_code == 402 and "This card was declined too" in declined.content.decode()
    assert names().count("payment_failed") == 2
    assert buyer.post(link, {"card": "a forged one"}).status_code == 400

    paid = buyer.post(link, {"card": "pays"})
    assert paid.status_code == 200 and "back on schedule" in paid.content.decode()
    order.refresh_from_db()
    assert order.state == "active" and order.revenue() == 795 + 4700
    recovered = Event.objects.get(name="payment_recovered").properties
    assert (recovered["number"], recovered["attempts"]) == (1, 3)
    assert "trial_converted" in names()
    second = order.charges.get(number=2)
    assert second.state == "scheduled" and second.due_at == MOMENT + 14 * DAY  # its own date
    assert services.collect_due(MOMENT + 14 * DAY) == services.Collected(1, 0)  # the new card
    assert buyer.post(link, {"card": "pays"}).status_code == 409  # nothing waits any more


def test_the_offer_writes_its_own_schedule_and_links_are_checked(smtp, settings, clock):  # noqa: F811
    order = buyer_pays_the_trial(seed004(retries=["2h"]), settings, DECLINING)
    services.collect_due(TRIAL_ENDS)
    assert failures()[-1]["retry_at"] == "2026-12-08T11:30:00+00:00"
    link = card_link(smtp.wait_for(2)[1])
    token = link.split("/")[2]
    for bad in (f"/o/{token[:-2]}xy/card/", f"/o/{token}x/card/"):
        assert Client().post(bad, {"card": "pays"}).status_code == 404
    services.collect_due(TRIAL_ENDS + dt.timedelta(hours=2))
    order.refresh_from_db()
    assert order.state == "failed" and failures()[-1]["final"] is True
    clock.shift(46 * DAY)
    assert Client().get(link).status_code == 410


def test_automations_trigger_on_a_failed_payment_and_exit_when_it_recovers(smtp, settings):
    data = seed004()
    data["automations"].append({
        "key": "card-help", "name": "Help with a failed payment", "marketing": False,
        "when": {"did": {"event": "payment_failed"}},
        "exit": [{"did": {"event": "payment_recovered"}}],
        "do": [{"wait": "2d"}, {"email": "trial-ending"}],
    })  # fmt: skip
    buyer_pays_the_trial(data, settings, DECLINING)
    services.collect_due(TRIAL_ENDS)
    run = Enrollment.objects.get(automation="card-help")
    assert run.state == Enrollment.State.WAITING
    Client().post(card_link(smtp.wait_for(2)[1]), {"card": "pays"})
    run.refresh_from_db()
    assert run.state == Enrollment.State.EXITED


def test_the_dashboard_lists_the_orders_at_risk_per_funnel(smtp, settings):
    failing = buyer_pays_the_trial(seed004(), settings, DECLINING)
    fine = buyer_pays_the_trial(seed004(), settings, "cy@example.com")
    services.collect_due(TRIAL_ENDS)
    staff = Client()
    staff.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    page = staff.get("/dashboard/funnels/business-turnaround/orders-at-risk/").content.decode()
    assert DECLINING in page and "cy@example.com" not in page
    assert "Your card was declined (test)." in page and "2026-12-09 09:30" in page
    assert "$141.00" in page  # still due: the failed instalment and the two after it
    answer = staff.post(
        f"/dashboard/funnels/business-turnaround/orders/{failing.pk}/cancel/", follow=True
    )
    assert "$141.00 cancelled" in answer.content.decode()
    failing.refresh_from_db()
    fine.refresh_from_db()
    assert failing.state == "cancelled" and fine.state == "active"
    assert Client().get("/dashboard/funnels/business-turnaround/orders-at-risk/").status_code == 302


def test_stripe_retries_by_itself_and_its_last_failure_stops_the_order(client, stub_stripe):  # noqa: F811
    order = trial_order()
    deliver(client, session_completed(order))
    paid = invoice_paid(order, 1)
    failed = {**paid, "id": "evt_failed_1", "type": "invoice.payment_failed"}
    retry_at = int((TRIAL_ENDS + 3 * DAY).timestamp())
    failed["data"] = {"object": {**paid["data"]["object"], "status": "open",
                                 "next_payment_attempt": retry_at}}  # fmt: skip
    deliver(client, failed)
    order.refresh_from_db()
    assert order.state == "retrying"
    assert failures()[-1]["retry_at"] == "2026-12-11T09:30:00+00:00"

    # The buyer asks for a new card: a Checkout Session in setup mode for their customer.
    Order.objects.filter(pk=order.pk).update(customer_id="cus_1")

    answer = client.post(f"/o/{links.card_token(order)}/card/")
    assert answer.status_code == 302 and answer["Location"].startswith("https://checkout.stripe")
    (path, headers, form) = stub_stripe[-1]
    assert path == "/v1/checkout/sessions" and form["mode"] == ["setup"]
    assert form["customer"] == ["cus_1"] and form["metadata[purpose]"] == ["new_card"]
    assert headers["Idempotency-Key"] == f"yesladder-{order.reference}-card-1-0"

    deliver(client, paid)  # Stripe's retry went through
    order.refresh_from_db()
    assert order.state == "active" and "payment_recovered" in names()
    last = invoice_paid(order, 2)
    final = {**last, "id": "evt_failed_2", "type": "invoice.payment_failed"}
    final["data"] = {"object": {**last["data"]["object"], "status": "open",
                                "next_payment_attempt": None}}  # fmt: skip
    deliver(client, final)
    order.refresh_from_db()
    assert order.state == "failed" and order.revenue() == 795 + 4700
    assert ("/v1/subscriptions/sub_1") in [p for p, _, _ in stub_stripe]


class StubWithSetupIntents(StubStripe):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append((self.path, dict(self.headers), {}))
        data = json.dumps({"id": "seti_1", "object": "setup_intent",
                           "payment_method": "pm_new"}).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_stripe_s_new_card_becomes_the_subscription_s_card(client, stripe_settings):  # noqa: F811
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubWithSetupIntents)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{server.server_port}"
    StubWithSetupIntents.requests = []
    try:
        order = trial_order()
        deliver(client, session_completed(order))
        setup = stripe_event("evt_card", "checkout.session.completed", {
            "id": "cs_card", "object": "checkout.session", "mode": "setup",
            "status": "complete", "setup_intent": "seti_1", "customer": "cus_1",
            "metadata": {"order": str(order.reference), "purpose": "new_card"},
        })  # fmt: skip
        deliver(client, setup)
    finally:
        server.shutdown()
    order.refresh_from_db()
    assert order.payment_method == "pm_new"
    paths = [(path, form) for path, _, form in StubWithSetupIntents.requests]
    assert paths[0][0] == "/v1/setup_intents/seti_1"
    assert paths[1] == ("/v1/subscriptions/sub_1", {"default_payment_method": ["pm_new"]})
    assert order.state == "active" and "payment_recovered" not in names()  # Stripe retries
