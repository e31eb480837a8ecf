"""Order emails and the buyer's order pages show dates in the buyer's zone (issue 31): the zone
the offer page used is stored on the order at checkout, checked against the zone database; a
zone that is not one, or none, leaves UTC, named the same way."""

import pytest
import time_machine
from django.test import Client

from tests.test_trial_cancel import MOMENT, buyer_pays_the_trial, links_in, seed004, text_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MOMENT, tick=False) as traveller:
        yield traveller


def test_the_receipt_and_the_order_pages_speak_the_buyers_zone(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings, zone="America/New_York")
    assert order.timezone == "America/New_York"
    (receipt,) = smtp.wait_for(1)
    text = text_of(receipt)
    assert "What you pay, and when (dates in America/New_York):" in text
    # 09:30 UTC is 04:30 in New York; the first charge's day is the buyer's day.
    assert "Cancel before 8 Dec 2026, 04:30 America/New_York and you pay nothing more" in text
    assert "- 1 Dec 2026: 7-day trial" in text
    links = links_in(receipt)
    page = Client().get(links["order"]).content.decode()
    assert "Your trial runs until 8 Dec 2026, 04:30 America/New_York." in page
    assert "(dates in America/New_York)" in page
    cancel = Client().get(links["cancel"]).content.decode()
    assert "Your trial runs until 8 Dec 2026, 04:30 America/New_York." in cancel


def test_a_zone_that_is_not_one_leaves_utc_named(smtp, settings):
    order = buyer_pays_the_trial(seed004(), settings, zone="Mars/Olympus_Mons")
    assert order.timezone == ""
    text = text_of(smtp.wait_for(1)[0])
    assert "(dates in UTC)" in text and "Cancel before 8 Dec 2026, 09:30 UTC" in text
