"""Two visitors in headless Chromium take the conditional checkup down two paths to two tiers:
what each sees (the question count following the answers, the score, the bars, the weakest
category, the one next step) and the result each gets by email from a real SMTP server."""

import pytest

from tests.conftest import NEEDS_CHROMIUM
from tests.quiz_fixtures import CHECKUP
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import parse_spec

pytestmark = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


def take(page, count: int, number: int, how) -> None:
    assert page.get_by_text(f"Question {number} of {count}").is_visible()
    how()


def test_two_paths_through_a_conditional_quiz_to_two_tiers(
    live_server, browser_page, smtp, tmp_path
):
    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    page = browser_page
    button = page.get_by_role

    # The leaky path: "A day or more" shows one more question, so the count grows to 5.
    page.goto(f"{live_server.url}/f/checkup/checkup/")
    take(page, 4, 1, lambda: button("button", name="A day or more").click())
    take(page, 5, 2, lambda: button("button", name="We are too busy").click())
    page.get_by_label("Chat").check()
    take(page, 5, 3, lambda: button("button", name="Next").click())
    take(page, 5, 4, lambda: button("button", name="2", exact=True).click())
    page.get_by_label("Your answer").fill("400")  # outside every range: refused on the page
    button("button", name="Next").click()
    assert "from 0 to 365" in page.get_by_role("alert").inner_text()
    page.get_by_label("Your answer").fill("40")
    take(page, 5, 5, lambda: button("button", name="Next").click())

    assert page.get_by_text("19 %", exact=True).is_visible()
    assert button("heading", name="Your pipeline leaks").is_visible()
    assert button("img", name="Your score by category").is_visible()
    assert button("heading", name="Your weakest area: Review habit (13 %)").is_visible()
    assert page.get_by_text("every Friday").is_visible()
    shot = tmp_path / "quiz-result-leaky.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")
    page.get_by_label("Email me my result").fill("lea@example.com")
    button("button", name="Email me my result").click()
    assert page.get_by_text("on its way to your inbox").is_visible()
    (leaky,) = smtp.wait_for(1)
    text = leaky.get_body(preferencelist=("plain",)).get_content()
    assert leaky["To"] == "lea@example.com" and "Your score: 19 % (3 of 16 points)" in text
    assert "Your weakest area: Review habit (13 %)" in text
    button("button", name="Book the 15-minute fix call").click()
    page.wait_for_url("**/f/checkup/fix-call/")

    # The strong path, a new visitor: the conditional question never appears.
    page = page.context.browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    button = page.get_by_role
    page.goto(f"{live_server.url}/f/checkup/checkup/")
    take(page, 4, 1, lambda: button("button", name="Within minutes").click())
    page.get_by_label("Email").check()
    take(page, 4, 2, lambda: button("button", name="Next").click())
    take(page, 4, 3, lambda: button("button", name="4", exact=True).click())
    page.get_by_label("Your answer").fill("3")
    take(page, 4, 4, lambda: button("button", name="Next").click())
    assert page.get_by_text("80 %", exact=True).is_visible()
    assert button("heading", name="Your pipeline is tight").is_visible()
    assert button("heading", name="Your weakest area: Speed of follow-up (71 %)").is_visible()
    page.screenshot(path=str(tmp_path / "quiz-result-strong.png"), full_page=True)
    page.get_by_label("Email me my result").fill("sol@example.com")
    button("button", name="Email me my result").click()
    strong = smtp.wait_for(2)[1]
    assert (
        "Your score: 80 % (12 of 15 points)"
        in strong.get_body(preferencelist=("plain",)).get_content()
    )
    button("button", name="Read the playbook").click()
    page.wait_for_url("**/f/checkup/playbook/")
