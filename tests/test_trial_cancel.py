"""Cancel a trial, as the offer says (issue 31): the buyer cancels from the link in the receipt
they received (a confirmation page, then a POST), the later charges are cancelled and the fee
paid stays paid, a confirmation email and one `trial_cancelled` event; links that are forged,
expired or used twice change nothing; after the trial the offer decides; staff can cancel;
Stripe's subscription is cancelled first and its later webhooks pay nothing."""

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine
import yaml
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import journey_with_lead
from tests.test_stripe_payments import (  # noqa: F401 (fixtures)
    deliver,
    invoice_paid,
    session_completed,
    stripe_settings,
    stub_stripe,
    trial_order,
)
from yesladder.automation.models import Enrollment
from yesladder.offers import services
from yesladder.offers.models import Order
from yesladder.tracking.models import Event

SEED_004 = Path(__file__).resolve().parent.parent / "examples" / "seed004-trial.yaml"
MOMENT = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)  # a Tuesday
DAY = dt.timedelta(days=1)
# Emails leave after the commit, so these tests run with real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MOMENT, tick=False) as traveller:
        yield traveller


def seed004(**offer) -> dict:
    data = yaml.safe_load(SEED_004.read_text())
    data["steps"][2].update(offer)
    return data


def buyer_pays_the_trial(data: dict, settings, email: str = "ada@example.com",
                         zone: str = "") -> Order:  # fmt: skip
    """The buyer says yes on the offer's page (their browser reporting `zone`, if given) and
    pays on the test provider's page."""
    settings.PAYMENTS = "test"
    settings.BASE_URL = "http://testserver"  # a payment's email may leave from the worker
    journey = journey_with_lead(data, email)
    journey.done, journey.current_step = ["diagnosis", "result-by-email"], "trial"
    journey.save()
    client = Client()
    client.cookies["yl_vid"] = str(journey.visitor.pk)
    if zone:
        client.cookies["yl_tz"] = zone
    answer = client.post("/f/business-turnaround/trial/", follow=True)
    assert answer.redirect_chain[-1][0].startswith("/pay/test/")
    paid = client.post(answer.redirect_chain[-1][0], {"action": "pay"}, follow=True)
    assert paid.status_code == 200
    return Order.objects.get(lead__email=email)


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def links_in(message) -> dict[str, str]:
    text = text_of(message)
    return {
        "cancel": re.search(r"http://testserver(/o/[^/\s]+/cancel/)", text).group(1),
        "order": re.search(r"Your order: http://testserver(/o/[^/\s]+/)", text).group(1),
    }


def names(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("name", flat=True))


def test_the_buyer_cancels_the_trial_from_the_link_in_their_receipt(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings)
    (receipt,) = smtp.wait_for(1)
    assert receipt["Subject"] == "Your receipt: 30-Day Business Turnaround, one-week trial"
    assert "Cancel before 8 Dec 2026, 09:30 UTC and you pay nothing more ($141.00 not" in (
        text_of(receipt)
    )
    link = links_in(receipt)["cancel"]

    # A mail scanner (or the buyer) opening the link changes nothing: it asks.
    scanner = Client(HTTP_USER_AGENT="Microsoft Defender SafeLinks")
    page = scanner.get(link).content.decode()
    assert "Cancel 30-Day Business Turnaround, one-week trial?" in page
    assert "Your trial runs until 8 Dec 2026, 09:30 UTC." in page
    assert "Cancelling stops 3 payments not made yet ($141.00)" in page
    order.refresh_from_db()
    assert order.state == "active" and "trial_cancelled" not in names()

    buyer = Client()
    done = buyer.post(link)
    assert done.status_code == 200
    assert "Your trial is cancelled. Nothing more will be charged" in done.content.decode()
    order.refresh_from_db()
    assert order.state == "cancelled" and order.cancelled_at == order.cancelled_at
    assert list(order.charges.values_list("state", flat=True)) == [
        "paid", "cancelled", "cancelled", "cancelled"]  # fmt: skip
    assert order.revenue() == 795  # the fee paid stays paid
    (cancelled,) = Event.objects.filter(name="trial_cancelled")
    assert cancelled.properties == {
        "order": str(order.reference), "currency": "USD", "in_trial": True, "amount": 14100,
        "by": "buyer"}  # fmt: skip
    confirmation = smtp.wait_for(2)[1]
    assert confirmation["Subject"] == "Cancelled: 30-Day Business Turnaround, one-week trial"
    assert "Nothing more will be charged: $141.00" in text_of(confirmation)

    # Used twice: a clear page, nothing changed, no second email.
    again = buyer.post(link)
    assert again.status_code == 409 and "already cancelled on 1 Dec 2026" in again.content.decode()
    assert "already cancelled" in buyer.get(link).content.decode()
    # The worker, a week later, charges nothing.
    assert services.collect_due(MOMENT + 8 * DAY) == services.Collected(0, 0)
    assert len(smtp.wait_for(3, timeout=0.5)) == 2
    assert names().count("trial_cancelled") == 1 and "trial_converted" not in names()

    # The order page (the receipt's other link) says so.
    order_page = buyer.get(links_in(receipt)["order"]).content.decode()
    assert "already cancelled" in order_page and "Later charges cancelled" in order_page


def test_forged_and_expired_cancel_links_change_nothing(smtp, settings, clock):
    order = buyer_pays_the_trial(seed004(), settings)
    link = links_in(smtp.wait_for(1)[0])["cancel"]
    token = link.split("/")[2]
    forged = [
        f"/o/{token[:-2]}xy/cancel/",  # a changed signature
        f"/o/{links_in(smtp.messages[0])['order'].split('/')[2]}/cancel/",  # another salt's
        "/o/%3Cscript%3E/cancel/",
    ]
    client = Client()
    for bad in forged:
        for answer in (client.get(bad), client.post(bad)):
            assert answer.status_code == 404
            assert "This link is not valid" in answer.content.decode()
            assert "<script>" not in answer.content.decode()
    clock.shift(46 * DAY)
    for answer in (client.get(link), client.post(link)):
        assert answer.status_code == 410 and "older than 45 days" in answer.content.decode()
    order.refresh_from_db()
    assert order.state == "active" and "trial_cancelled" not in names()
    assert len(smtp.wait_for(2, timeout=0.3)) == 1


def test_after_the_trial_cancel_says_plainly_what_it_cannot_do(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings)
    link = links_in(smtp.wait_for(1)[0])["cancel"]
    with time_machine.travel(MOMENT + 8 * DAY):
        assert services.collect_due().paid == 1  # the trial converted
        page = Client().get(link).content.decode()
        assert ("Your trial ended on 8 Dec 2026, and this offer does not let Cancel stop the "
                "remaining payments (2, $94.00 in total)") in page  # fmt: skip
        assert "30-day money-back guarantee (until 31 Dec 2026)" in page
        assert Client().post(link).status_code == 409
    order.refresh_from_db()
    assert order.state == "active" and "trial_cancelled" not in names()


def test_an_offer_that_allows_it_stops_the_instalments_after_the_trial(smtp, settings):
    order = buyer_pays_the_trial(seed004(cancel={"after_trial": True}), settings)
    link = links_in(smtp.wait_for(1)[0])["cancel"]
    with time_machine.travel(MOMENT + 8 * DAY):
        services.collect_due()
        assert "Cancelling stops 2 payments not made yet ($94.00)" in (
            Client().get(link).content.decode()
        )
        assert "Nothing more will be charged: $94.00" in Client().post(link).content.decode()
    order.refresh_from_db()
    assert order.revenue() == 795 + 4700
    assert list(order.charges.values_list("state", flat=True)) == [
        "paid", "paid", "cancelled", "cancelled"]  # fmt: skip
    assert Event.objects.get(name="trial_cancelled").properties["in_trial"] is False


def test_cancelling_ends_the_trial_ending_follow_up(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings)
    run = Enrollment.objects.get(automation="trial-ending")
    assert run.state == Enrollment.State.WAITING
    services.cancel(order)
    run.refresh_from_db()
    assert run.state == Enrollment.State.EXITED


def test_staff_cancel_from_the_admin_whatever_the_offer(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings)
    staff = User.objects.create_superuser("staff", "staff@example.com", "pw")
    admin = Client()
    admin.force_login(staff)
    with time_machine.travel(MOMENT + 8 * DAY):
        services.collect_due()
        answer = admin.post("/admin/offers/order/", {
            "action": "cancel", "_selected_action": [order.pk]}, follow=True)  # fmt: skip
    assert "$94.00 cancelled" in answer.content.decode()
    order.refresh_from_db()
    assert order.state == "cancelled"
    assert Event.objects.get(name="trial_cancelled").properties["by"] == "staff"


def test_stripe_stops_the_subscription_first_and_later_webhooks_pay_nothing(stub_stripe):  # noqa: F811
    order = trial_order()
    client = Client()
    deliver(client, session_completed(order))
    deliver(client, invoice_paid(order, 0))
    services.cancel(order)
    assert [path for path, _, _ in stub_stripe] == ["/v1/subscriptions/sub_1"]
    deliver(client, invoice_paid(order, 1))  # Stripe retrying an invoice made before the cancel
    order.refresh_from_db()
    assert order.state == "cancelled" and order.revenue() == 795
    assert list(order.charges.values_list("state", flat=True)) == [
        "paid", "cancelled", "cancelled", "cancelled"]  # fmt: skip


def test_stripe_out_of_reach_cancels_nothing(stripe_settings):  # noqa: F811
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    order = trial_order()
    deliver(Client(), session_completed(order))
    with pytest.raises(services.ProviderError):
        services.cancel(order)
    order.refresh_from_db()
    assert order.state == "active" and "trial_cancelled" not in names()
