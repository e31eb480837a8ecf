"""Issue 31 in a real browser: the buyer opens Cancel from the receipt they received and cancels
their trial; a buyer whose card failed pays with another card from the email; the host's email
of a booked call. Screenshots go to $YESLADDER_SCREENSHOTS (else a temporary folder)."""

import datetime as dt
import os
import re
from pathlib import Path

import pytest
import time_machine
from playwright.sync_api import expect

from tests.conftest import NEEDS_CHROMIUM
from tests.test_call_complete import FIRST, lead_books
from tests.test_call_complete import MOMENT as SUNDAY
from tests.test_trial_cancel import MOMENT, buyer_pays_the_trial, seed004
from yesladder.offers import services
from yesladder.offers.models import Order

pytestmark = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("YESLADDER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def html_of(message) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


def link(message, pattern: str) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(pattern, text).group(0)


def test_the_buyer_cancels_in_the_browser_from_the_receipt(
    live_server, browser_page, smtp, settings, screenshots
):
    page = browser_page
    with time_machine.travel(MOMENT, tick=True):
        order = buyer_pays_the_trial(seed004(), settings, zone="America/New_York")
        settings.BASE_URL = live_server.url
        (receipt,) = smtp.wait_for(1)
        page.set_content(html_of(receipt))
        page.screenshot(path=str(screenshots / "receipt-email.png"), full_page=True)
        cancel = link(receipt, r"http://testserver/o/\S+/cancel/")
        page.goto(cancel.replace("http://testserver", live_server.url))
        expect(page.get_by_role("heading")).to_have_text(
            "Cancel 30-Day Business Turnaround, one-week trial?"
        )
        page.screenshot(path=str(screenshots / "cancel-page.png"), full_page=True)
        page.get_by_role("button", name="Cancel and pay nothing more").click()
        expect(page.get_by_role("heading")).to_have_text("Cancelled")
        page.screenshot(path=str(screenshots / "cancelled-page.png"), full_page=True)
    order.refresh_from_db()
    assert order.state == Order.State.CANCELLED
    page.set_content(html_of(smtp.wait_for(2)[1]))
    page.screenshot(path=str(screenshots / "cancelled-email.png"), full_page=True)


def test_a_failed_payment_is_paid_with_another_card_in_the_browser(
    live_server, browser_page, smtp, settings, screenshots
):
    page = browser_page
    with time_machine.travel(MOMENT, tick=True):
        order = buyer_pays_the_trial(
            seed004(), settings, "bo+decline@example.com", zone="America/New_York"
        )
        settings.BASE_URL = live_server.url
        services.collect_due(MOMENT + dt.timedelta(days=7, minutes=5))
        failed = smtp.wait_for(2)[1]
        page.set_content(html_of(failed))
        page.screenshot(path=str(screenshots / "payment-failed-email.png"), full_page=True)
        page.goto(link(failed, r"http://\S+/o/\S+/card/"))
        page.screenshot(path=str(screenshots / "new-card-page.png"), full_page=True)
        page.get_by_role("button", name="Use card 4242 4242 4242 4242 (pays)").click()
        expect(page.get_by_role("heading")).to_have_text("Paid: you are back on schedule")
    order.refresh_from_db()
    assert order.state == Order.State.ACTIVE


def test_the_host_s_email_of_a_booked_call(browser_page, smtp, settings, screenshots):
    with time_machine.travel(SUNDAY, tick=False):
        lead_books(settings)
    host = next(m for m in smtp.wait_for(2) if m["To"] == "ann@example.com")
    browser_page.set_content(html_of(host))
    expect(browser_page.get_by_role("link", name="They did not come")).to_be_visible()
    assert FIRST.strftime("%-d December") in browser_page.inner_text("body")
    browser_page.screenshot(path=str(screenshots / "host-email.png"), full_page=True)


def test_staff_mark_a_webinar_no_show_who_gets_the_replay_and_the_report_counts_attendance(
    live_server, browser_page, smtp, settings, screenshots
):
    from tests.test_dashboard_funnel_browser import sign_in
    from tests.test_webinar_marking import START, registers

    page = browser_page
    page.set_viewport_size({"width": 1100, "height": 800})
    with time_machine.travel(SUNDAY, tick=True):
        for email in ("ada@example.com", "bo@example.com", "cy@example.com"):
            registers(email)
        smtp.wait_for(3)
    with time_machine.travel(START + dt.timedelta(hours=1), tick=True):
        sign_in(page, live_server.url)
        page.goto(f"{live_server.url}/dashboard/funnels/clean/")
        page.get_by_role("link", name="Attendance").click()
        for email, outcome in (("ada@example.com", "Attended"), ("cy@example.com", "Attended"),
                               ("bo@example.com", "No-show")):  # fmt: skip
            row = page.get_by_role("row").filter(has_text=email)
            row.get_by_role("button", name=outcome).click()
            expect(page.get_by_text(f"{email}: marked")).to_be_visible()
        expect(page.get_by_text("bo@example.com: marked a no-show and sent the replay")
               ).to_be_visible()  # fmt: skip
        page.screenshot(path=str(screenshots / "attendance-page.png"), full_page=True)
        replay = smtp.wait_for(4)[3]
        assert replay["To"] == "bo@example.com"
        page.set_viewport_size({"width": 390, "height": 844})
        page.set_content(html_of(replay))
        expect(page.get_by_role("link", name="Watch the replay")).to_be_visible()
        page.screenshot(path=str(screenshots / "replay-email.png"), full_page=True)
        page.set_viewport_size({"width": 1100, "height": 800})
        page.goto(f"{live_server.url}/dashboard/funnels/clean/")
        rung = page.get_by_role("row").filter(has_text="Attended: Live workshop").last
        expect(rung).to_be_visible()
        assert "66.7" in rung.inner_text()  # 2 of the 3 who registered came
        table = page.get_by_role("region", name="The ladder, rung by rung")
        table.screenshot(path=str(screenshots / "report-attended-rung.png"))
