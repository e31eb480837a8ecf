"""Orders: the whole schedule stored before anything is paid, charges paid once, revenue as
paid less refunds, refunds inside the guarantee and refused outside it."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from tests.conftest import journey_with_lead
from yesladder.funnels import money
from yesladder.offers import services
from yesladder.offers.models import Order
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db
SEED_004 = Path(__file__).resolve().parent.parent / "examples" / "seed004-trial.yaml"


def seed004_journey():
    return journey_with_lead(yaml.safe_load(SEED_004.read_text()))


def place(journey, step_key="trial", now=None):
    step = journey.version.spec.step(step_key)
    now = now or timezone.now()
    return services.place_order(journey, step, journey.visitor.lead, "test", now)


def names(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("name", flat=True))


def test_money_in_minor_units_and_as_a_buyer_reads_it():
    assert money.minor_units(Decimal("7.95"), "USD") == 795
    assert money.minor_units(Decimal("5000"), "JPY") == 5000
    with pytest.raises(ValueError):
        money.minor_units(Decimal("7.955"), "USD")
    assert money.shown(14895, "USD") == "$148.95"
    assert money.shown(120000, "EUR") == "€1,200.00"
    assert money.shown(5000, "JPY") == "5,000 JPY"
    assert money.shown(990, "CHF") == "9.90 CHF"


def test_the_seed_004_plan_is_stored_with_every_due_date_and_shown_before_paying(client):
    journey = seed004_journey()
    now = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
    order = place(journey, now=now)
    rows = list(order.charges.values_list("number", "label", "amount", "due_at", "state"))
    day = dt.timedelta(days=1)
    assert rows == [
        (0, "7-day trial", 795, now, "scheduled"),
        (1, "instalment 1 of 3", 4700, now + 7 * day, "scheduled"),
        (2, "instalment 2 of 3", 4700, now + 14 * day, "scheduled"),
        (3, "instalment 3 of 3", 4700, now + 21 * day, "scheduled"),
    ]
    assert order.total == 14895 and order.currency == "USD" and order.guarantee_days == 30
    assert names() == ["checkout_started"]
    assert place(journey) == order  # coming back continues the same order

    client.cookies["yl_vid"] = str(journey.visitor.pk)
    page = client.get("/f/business-turnaround/trial/").content.decode()
    schedule = page[page.index('<table class="schedule">') : page.index("</table>")]
    assert schedule.count("$47.00") == 3 and "$7.95" in schedule and "Today" in schedule
    assert "<strong>$148.95</strong>" in schedule and "(in 21 days)" in schedule


def test_charges_are_paid_once_and_the_trial_converts_at_the_first_instalment():
    journey = seed004_journey()
    now = timezone.now()
    order = place(journey, now=now)
    assert services.first_payment(order, "pay_0") and not services.first_payment(order, "pay_0")
    order.refresh_from_db()
    assert order.state == "active" and order.started_at and order.revenue() == 795
    journey.refresh_from_db()
    assert journey.done == ["trial"] and journey.current_step == "program"
    assert services.collect_due(now + dt.timedelta(days=6)).paid == 0  # nothing due yet
    assert services.collect_due(now + dt.timedelta(days=8)).paid == 1
    assert services.collect_due(now + dt.timedelta(days=8)).paid == 0  # paid charges stay paid
    journey.refresh_from_db()
    assert journey.done == ["trial", "program"] and journey.converted_at is not None
    assert names() == ["checkout_started", "paid", "step_completed", "instalment_paid",
                       "trial_converted", "step_completed", "converted"]  # fmt: skip
    services.collect_due(now + dt.timedelta(days=30))
    order.refresh_from_db()
    assert order.state == "completed" and order.paid() == 14895
    assert names().count("trial_converted") == 1 and names().count("converted") == 1


def test_a_declined_later_charge_fails_and_is_not_revenue():
    journey = journey_with_lead(yaml.safe_load(SEED_004.read_text()), "bo+decline@example.com")
    now = timezone.now()
    order = place(journey, now=now)
    services.first_payment(order, "pay_0")
    assert services.collect_due(now + dt.timedelta(days=8)).failed == 1
    order.refresh_from_db()
    assert order.state == "retrying" and order.revenue() == 795  # tried again (issue 31)
    assert order.charges.get(number=1).failure.startswith("Your card was declined")


def test_a_refund_inside_the_guarantee_is_one_action():
    journey = seed004_journey()
    now = timezone.now()
    order = place(journey, now=now)
    services.first_payment(order, "pay_0", now=now)
    services.collect_due(now + dt.timedelta(days=8))
    assert services.refund(order, now + dt.timedelta(days=29)) == 795 + 4700
    order.refresh_from_db()
    assert order.state == "refunded" and order.revenue() == 0
    states = list(order.charges.values_list("state", flat=True))
    assert states == ["refunded", "refunded", "cancelled", "cancelled"]
    assert services.collect_due(now + dt.timedelta(days=30)).paid == 0  # nothing more charged
    refunded = Event.objects.get(name="refunded")
    assert refunded.properties["amount"] == 5495 and refunded.properties["currency"] == "USD"
    with pytest.raises(services.RefundRefused, match="already refunded"):
        services.refund(order, now + dt.timedelta(days=29))


def test_a_refund_outside_the_window_is_refused_with_the_reason_and_changes_nothing():
    journey = seed004_journey()
    now = timezone.now()
    order = place(journey, now=now)
    with pytest.raises(services.RefundRefused, match="nothing was paid"):
        services.refund(order, now)
    services.first_payment(order, "pay_0", now=now)
    with pytest.raises(services.RefundRefused, match="30-day guarantee ended on"):
        services.refund(order, now + dt.timedelta(days=30, seconds=1))
    order.refresh_from_db()
    assert order.state == "active" and order.revenue() == 795
    assert "refunded" not in names()


def test_an_offer_without_a_guarantee_is_not_refunded_here(clean):
    del clean["steps"][4]["guarantee"]
    journey = journey_with_lead(clean)
    order = place(journey, "program")
    services.first_payment(order, "pay_0")
    with pytest.raises(services.RefundRefused, match="no money-back guarantee"):
        services.refund(order)
    assert Order.objects.get().state == "completed"
