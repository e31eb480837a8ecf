"""A real visitor in headless Chromium walks the B2B example ladder end to end: the guide, the
opt-in behind the checklist, the download, the quiz one question at a time, the result and
"email me my result". It checks what the visitor sees and what the event log recorded."""

from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Consent, Lead
from yesladder.tracking.models import Event, Journey

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
]


def event_names() -> list[str]:
    return list(Event.objects.values_list("name", flat=True))


def test_a_visitor_walks_the_ladder_in_a_real_browser(live_server, browser_page, smtp):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    page = browser_page
    page.goto(f"{live_server.url}/f/b2b-ladder/?utm_source=newsletter")

    # 1. The guide: value, one call to action, progress; reading is measured by the script.
    assert page.locator("h1").inner_text() == "The 5 leaks in your sales pipeline"
    assert page.get_by_text("Step 1 of 5").is_visible()
    page.mouse.wheel(0, 5000)
    page.wait_for_function("() => window.scrollY > 0")
    page.get_by_role("button", name="Show me the leak checklist").click()

    # 2. The checklist: a gated magnet. A bad email is answered on the same page, and the
    #    name already typed is kept.
    page.wait_for_url("**/f/b2b-ladder/checklist/")
    assert page.get_by_text("Step 2 of 5").is_visible()
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("First name").fill("Ines")
    page.get_by_role("button", name="Get Pipeline leak checklist (PDF)").click()
    assert page.get_by_role("alert").inner_text().count("valid email address") == 1
    assert page.get_by_label("First name").input_value() == "Ines"
    page.get_by_label("Email").fill("Ines@Example.com")
    page.get_by_role("button", name="Get Pipeline leak checklist (PDF)").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download Pipeline leak checklist (PDF)").click()
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    page.get_by_role("button", name="Email me the checklist").click()

    # 3. The assessment: one question per screen with its counter, then the one field it
    #    declares (the company; the email is known, so not asked again) before the result.
    page.wait_for_url("**/f/b2b-ladder/assessment/")
    assert page.get_by_text("Step 3 of 5").is_visible()
    for number, answer in enumerate(
        ["A day or more", "Not really", "After the first call", "Hardly ever"], start=1
    ):
        assert page.get_by_text(f"Question {number} of 4").is_visible()
        page.get_by_role("button", name=answer).click()
    assert page.get_by_label("Email").count() == 0
    page.get_by_role("button", name="Show me my result").click()  # empty: refused on the page
    assert "Please fill in company." in page.get_by_role("alert").inner_text()
    page.get_by_label("Company").fill("Ines & Co")
    page.get_by_role("button", name="Show me my result").click()

    # 4. The personalised result, and the result by email (the open loop).
    assert page.get_by_role("heading", name="Your pipeline leaks early").is_visible()
    page.get_by_role("button", name="Email me my result").click()
    assert page.get_by_text("on its way to your inbox").is_visible()
    subjects = {m["Subject"] for m in smtp.wait_for(2)}
    assert subjects == {
        "Here is your Pipeline leak checklist (PDF)",
        "Your result: Your pipeline leaks early",
    }

    lead = Lead.objects.get()
    assert lead.email == "ines@example.com" and lead.profile["first_name"] == "Ines"
    assert lead.profile["company"] == "Ines & Co"
    assert Consent.objects.filter(lead=lead).exists()
    journey = Journey.objects.get()
    assert journey.done == ["guide", "checklist"] and journey.outcome == ""
    assert journey.visitor.utm_source == "newsletter" and not journey.visitor.is_bot
    names = event_names()
    for expected in ("step_viewed", "cta_clicked", "step_completed", "read_progress",
                     "fields_given", "downloaded", "answered", "result_emailed"):  # fmt: skip
        assert expected in names, expected
    assert names.count("answered") == 4 and names.count("downloaded") == 1
    assert set(Event.objects.values_list("lead", flat=True)) == {lead.pk}  # history stitched
