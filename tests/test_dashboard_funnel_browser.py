"""Staff read a funnel's report in headless Chromium: sign in through the admin's login page,
open the funnels, click into one, see its chart drawn and the diagnosis of the step that leaks;
and on a phone the page never scrolls sideways (its wide tables scroll inside their wrappers).

Screenshots go to $YESLADDER_SCREENSHOTS when set (to look at them), else to pytest's tmp_path.
"""

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM
from tests.staff import member
from yesladder.analytics import progress
from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.services import new_visitor
from yesladder.tracking.services import record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
T = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
LADDER = ("guide", "checklist", "assessment", "strategy-session", "pilot")
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("YESLADDER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def leaky_ladder():
    """The B2B example with 200 people: 40 take the checklist (20 % against 40-60 %, clearly
    below), then 16, 9 and 6 climb on, and 3 buy the pilot for $2,900.00 each."""
    progress.ladder.cache_clear()  # cached by version id, which a flushed database reuses
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    version = FunnelVersion.objects.get(funnel__key="b2b-ladder", variant="")
    plan = [5] * 6 + [4] * 3 + [3] * 7 + [2] * 24 + [1] * 160
    sources = ("newsletter", "solo-ads", "linkedin", "<script>alert(1)</script>")
    for n, rungs in enumerate(plan):
        visitor = new_visitor("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                              "https://example.com/f/b2b-ladder/", "",
                              {"utm_source": sources[n % len(sources)]})  # fmt: skip
        start = T + dt.timedelta(days=n % 14, minutes=n)
        for i, step in enumerate(LADDER[:rungs]):
            record(EventName.STEP_VIEWED, visitor, version, step,
                   occurred_at=start + dt.timedelta(hours=i))  # fmt: skip
        if n < 3:
            paid = start + dt.timedelta(hours=rungs)
            record(EventName.PAID, visitor, version, "pilot", {"amount": 290_000},
                   occurred_at=paid)  # fmt: skip
            record(EventName.CONVERTED, visitor, version, "pilot", occurred_at=paid)
    yield version
    progress.ladder.cache_clear()


def sign_in(page, base: str) -> None:
    member("staff", "owner")
    page.goto(f"{base}/admin/login/?next=/dashboard/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("pw-staff-1234")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/funnels/")


def chart_drawn(page) -> None:
    page.wait_for_function(
        "() => { const img = document.querySelector('figure.chart img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )


def overflow(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth")


def test_staff_read_a_leaky_funnel_s_report(live_server, browser_page, leaky_ladder, screenshots):
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url)
    assert page.get_by_role("heading", name="Funnels").is_visible()
    row = page.get_by_role("row").filter(has_text="From cold lead to pilot")
    assert "200" in row.inner_text() and "The pipeline leak checklist" in row.inner_text()
    page.screenshot(path=str(screenshots / "funnels-desktop.png"), full_page=True)

    page.get_by_role("link", name="From cold lead to pilot").click()
    page.wait_for_url("**/dashboard/funnels/b2b-ladder/")
    chart_drawn(page)
    image = page.locator("figure.chart img")
    assert image.get_attribute("alt").startswith("200 people entered")
    assert image.bounding_box()["width"] > 600  # drawn at the column's width
    diagnosis = page.locator("section", has=page.get_by_role("heading", name="Diagnosis"))
    assert diagnosis.is_visible()
    assert "Fewer people take 'The pipeline leak checklist'" in diagnosis.inner_text()
    assert "Fix:" in diagnosis.inner_text()
    below = page.locator("td.verdict.below")
    assert below.count() == 1 and below.inner_text() == "below range"
    assert page.get_by_text("Bottleneck: the move to").is_visible()
    page.screenshot(path=str(screenshots / "funnel-report-desktop.png"), full_page=True)

    # A breakdown by source, asked through the form: the hostile source stays text.
    page.get_by_label("Break down by").select_option("source")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/dashboard/funnels/b2b-ladder/?*by=source*")
    chart_drawn(page)
    assert page.get_by_role("cell", name="<script>alert(1)</script>").is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "b2b-ladder-report.csv"


def test_the_report_fits_a_phone(live_server, browser_page, leaky_ladder, screenshots):
    page = browser_page
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url)
    assert overflow(page) <= PHONE["width"] + 1
    page.goto(f"{live_server.url}/dashboard/funnels/b2b-ladder/?by=source")
    chart_drawn(page)
    assert overflow(page) <= PHONE["width"] + 1  # the page itself never scrolls sideways
    wrappers = page.locator(".scroll")
    widest = max(wrappers.evaluate_all("els => els.map(e => e.scrollWidth - e.clientWidth)"))
    assert widest > 0  # ... the ladder's table scrolls inside its wrapper instead
    assert page.locator("figure.chart img").bounding_box()["width"] <= PHONE["width"]
    page.screenshot(path=str(screenshots / "funnel-report-phone.png"), full_page=True)
