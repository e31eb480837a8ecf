"""A real visitor in headless Chromium climbs the rungs that take time and money: the B2B
ladder's strategy-session booking (slots in the visitor's zone, the .ics invite by download and
by email) and its pilot offer paid on the test provider's page; and seed 004's trial, whose whole
payment schedule is shown before the yes and whose checkout completes when the trial converts."""

import datetime as dt
import zoneinfo
from pathlib import Path

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import NEEDS_CHROMIUM
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.offers.models import Charge, Order
from yesladder.offers.services import collect_due
from yesladder.scheduling.models import Booking
from yesladder.tracking.models import Event

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
]


VISITOR_ZONE = "Europe/Berlin"  # neither the host's zone (New York) nor the server's (UTC)


@pytest.fixture
def berlin_page(browser_page):
    """The same phone as `browser_page`, with its clock in VISITOR_ZONE."""
    context = browser_page.context.browser.new_context(
        viewport=browser_page.viewport_size,
        accept_downloads=True,
        user_agent=browser_page.evaluate("navigator.userAgent"),
        timezone_id=VISITOR_ZONE,
    )
    yield context.new_page()
    context.close()


def event_names() -> list[str]:
    return list(Event.objects.values_list("name", flat=True))


def test_a_visitor_books_a_call_and_pays_for_the_pilot(live_server, berlin_page, smtp, settings):
    settings.PAYMENTS = "test"
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    page = berlin_page
    page.goto(f"{live_server.url}/f/b2b-ladder/")

    # The first three rungs, quickly: the guide, the checklist's gate, the assessment.
    page.get_by_role("button", name="Show me the leak checklist").click()
    page.wait_for_url("**/f/b2b-ladder/checklist/")
    page.get_by_label("Email").fill("ines@example.com")
    page.get_by_label("First name").fill("Ines")
    page.get_by_role("button", name="Get Pipeline leak checklist (PDF)").click()
    page.get_by_role("button", name="Email me the checklist").click()
    page.wait_for_url("**/f/b2b-ladder/assessment/")
    for answer in ["A day or more", "Not really", "After the first call", "Hardly ever"]:
        page.get_by_role("button", name=answer).click()
    page.get_by_label("Company").fill("Ines & Co")
    page.get_by_role("button", name="Show me my result").click()
    assert page.get_by_role("heading", name="Your pipeline leaks early").is_visible()
    page.get_by_role("button", name="See my leak score").click()

    # The strategy session: what will (and will not) happen, and the times in the visitor's
    # own zone (the browser's, reported by the page script), which they can change. The lead
    # is known, so one click on a time books it.
    page.wait_for_url("**/f/b2b-ladder/strategy-session/")
    assert page.get_by_text("Step 4 of 5").is_visible()
    assert page.get_by_text("No sales demo").is_visible()
    assert page.get_by_text("You leave with one fix to make this week").is_visible()
    expect(page.get_by_label("Times are shown in")).to_have_value(VISITOR_ZONE)
    assert page.get_by_label("Email").count() == 0
    first = page.locator("button.slot").first
    start = dt.datetime.fromisoformat(first.get_attribute("value")).astimezone(dt.UTC)
    assert first.inner_text() == f"{start.astimezone(zoneinfo.ZoneInfo(VISITOR_ZONE)):%H:%M}"

    page.get_by_label("Times are shown in").select_option("America/New_York")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/strategy-session/?tz=America%2FNew_York")
    first = page.locator("button.slot").first
    assert dt.datetime.fromisoformat(first.get_attribute("value")) == start
    new_york = start.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert first.inner_text() == f"{new_york:%H:%M}" and "09:00" <= f"{new_york:%H:%M}" < "17:00"

    page.goto(f"{live_server.url}/f/b2b-ladder/strategy-session/")
    expect(page.get_by_label("Times are shown in")).to_have_value(VISITOR_ZONE)
    page.locator("button.slot").first.click()

    # The confirmation, the invite to download, and the invite in the inbox.
    confirmation = page.get_by_role("status").filter(has_text="Booked:")
    assert confirmation.is_visible()
    booking = Booking.objects.get()
    assert booking.start == start and booking.timezone == VISITOR_ZONE
    assert booking.host.name in confirmation.inner_text()
    assert f"({VISITOR_ZONE})" in confirmation.inner_text()
    shown = confirmation.locator("time")
    assert dt.datetime.fromisoformat(shown.get_attribute("datetime")) == booking.start
    local = booking.start.astimezone(zoneinfo.ZoneInfo(VISITOR_ZONE))
    assert shown.inner_text() == f"{local:%A %-d %B %Y, %H:%M}"
    with page.expect_download() as download:
        page.get_by_role("link", name="Add to my calendar (.ics)").click()
    calendar = icalendar.Calendar.from_ical(Path(download.value.path()).read_bytes())
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART").astimezone(dt.UTC) == booking.start
    mail = next(m for m in smtp.wait_for(2) if str(m["Subject"]).startswith("Booked:"))
    assert mail["To"].addresses[0].addr_spec == "ines@example.com"
    invite = next(p for p in mail.iter_attachments() if p.get_filename() == "invite.ics")
    assert invite.get_content_type() == "text/calendar"
    (mailed,) = icalendar.Calendar.from_ical(invite.get_payload(decode=True)).walk("VEVENT")
    assert mailed.decoded("DTSTART").astimezone(dt.UTC) == booking.start
    page.get_by_role("link", name="Continue").click()

    # The pilot: the whole price and the guarantee before the yes, then the test payment page.
    page.wait_for_url("**/f/b2b-ladder/pilot/")
    schedule = page.locator("table.schedule")
    assert schedule.get_by_text("$990.00").first.is_visible()
    assert schedule.get_by_text("Total").is_visible()
    assert schedule.get_by_text("Today").is_visible()
    assert page.get_by_text("60-day money-back guarantee.").is_visible()
    assert page.get_by_text("you get every dollar back").is_visible()
    page.get_by_role("button", name="Start the 30-day pilot").click()
    page.wait_for_url("**/pay/test/*/")
    assert page.get_by_text("This is the built-in test provider").is_visible()
    page.get_by_role("button", name="Pay $990.00 (test)").click()
    page.wait_for_url("**/f/b2b-ladder/pilot/")
    assert page.get_by_role("status").filter(has_text="You're in").is_visible()

    assert Booking.objects.count() == 1
    order = Order.objects.get()
    assert order.state == Order.State.COMPLETED and order.revenue() == 99000
    names = event_names()
    for expected in (EventName.BOOKED, EventName.CHECKOUT_STARTED, EventName.PAID,
                     EventName.CONVERTED):  # fmt: skip
        assert expected in names, expected
    assert names.count(EventName.BOOKED) == 1 and names.count(EventName.PAID) == 1


def test_a_trial_shows_its_whole_price_and_converts(live_server, browser_page, smtp, settings):
    settings.PAYMENTS = "test"
    load_funnel(read_spec(EXAMPLES / "seed004-trial.yaml"))
    page = browser_page
    page.goto(f"{live_server.url}/f/business-turnaround/")

    # The diagnosis, then the result by email (the open loop).
    for number, answer in enumerate(
        ["It stayed flat", "Admin and firefighting", "More than three"], start=1
    ):
        assert page.get_by_text(f"Question {number} of 3").is_visible()
        page.get_by_role("button", name=answer).click()
    assert page.get_by_role("heading", name="Too many priorities").is_visible()
    page.get_by_role("button", name="Show me my result").click()
    page.wait_for_url("**/f/business-turnaround/result-by-email/")
    page.get_by_label("Email").fill("sam@example.com")
    page.get_by_role("button", name="Email me my result").click()

    # The trial: every charge it commits to, with when, and the total, before the yes.
    page.wait_for_url("**/f/business-turnaround/trial/")
    rows = page.locator("table.schedule tbody tr")
    assert rows.count() == 4
    assert rows.nth(0).inner_text().split("\t")[0] == "Today"
    assert "$7.95" in rows.nth(0).inner_text()
    for n in (1, 2, 3):
        assert "$47.00" in rows.nth(n).inner_text()
        assert f"Instalment {n} of 3" in rows.nth(n).inner_text()
    assert page.locator("table.schedule tfoot").inner_text().split() == ["Total", "$148.95"]
    assert page.get_by_text("30-day money-back guarantee.").is_visible()
    page.get_by_role("button", name="Start my one-week trial for $7.95").click()
    page.wait_for_url("**/pay/test/*/")
    page.get_by_role("button", name="Pay $7.95 (test)").click()

    # Paid for the trial: the checkout step shows the order and what is paid so far.
    page.wait_for_url("**/f/business-turnaround/program/")
    order_table = page.locator("table.schedule")
    assert order_table.locator("caption").inner_text() == (
        "Your order: 30-Day Business Turnaround, one-week trial"
    )
    assert order_table.locator("tbody tr").count() == 4
    assert page.get_by_role("status").filter(has_text="Paid so far: $7.95").is_visible()
    assert page.get_by_text("once your trial ends").is_visible()
    assert EventName.TRIAL_CONVERTED not in event_names()

    # A week later the worker collects the first instalment: the trial converted.
    collected = collect_due(now=timezone.now() + dt.timedelta(days=8))
    assert (collected.paid, collected.failed) == (1, 0)
    page.reload()
    assert page.get_by_role("status").filter(has_text="Your order is complete").is_visible()

    order = Order.objects.get()
    paid = order.charges.filter(state=Charge.State.PAID).order_by("number")
    assert [c.amount for c in paid] == [795, 4700]
    assert order.state == Order.State.ACTIVE and order.revenue() == 795 + 4700
    names = event_names()
    for expected in (EventName.PAID, EventName.INSTALMENT_PAID, EventName.TRIAL_CONVERTED,
                     EventName.CONVERTED):  # fmt: skip
        assert expected in names, expected
    assert names.count(EventName.CONVERTED) == 1
