"""Staff read, in headless Chromium, a test judged on the rung it changes (every metric, the
primary marked, the planner per metric) and a follow-up email under test (its versions, what
each send led to, the caveat on opens). Screenshots of both sections go to
$YESLADDER_SCREENSHOTS when set (docs/images/ has them), else to pytest's tmp_path."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from tests.conftest import NEEDS_CHROMIUM, sourced_from
from tests.test_dashboard_funnel_browser import sign_in
from tests.test_experiment_emails import funnel_under_test
from tests.test_experiment_metrics import JUDGED, people
from tests.test_experiments import EXAMPLES, EXPERIMENT
from yesladder.automation.email_tests import variant_for
from yesladder.automation.models import Message
from yesladder.events import EventName
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import parse_spec
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("YESLADDER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_rung_metric_test_and_an_email_test(live_server, browser_page, screenshots):
    data = yaml.safe_load((EXAMPLES / "b2b-ladder.yaml").read_text())
    data["experiments"][0].update(JUDGED)
    load_funnel(parse_spec(yaml.safe_dump(data), str(EXAMPLES / "b2b-ladder.yaml")))
    base = Funnel.objects.get(key="b2b-ladder").current_version()
    people(base, "education-first", 600, 120, paid=6, watched=90)
    people(base, EXPERIMENT, 600, 190, paid=9, watched=95)
    load_funnel(sourced_from(funnel_under_test()))
    emailed = Funnel.objects.get(key="follow").current_version()
    send_tested_email(emailed, 400)

    page = browser_page
    page.set_viewport_size({"width": 1100, "height": 900})
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/funnels/b2b-ladder/experiments/")
    section = page.get_by_role("region", name="Assessment early vs education first")
    text = section.inner_text()
    assert "Decision (on reached strategy-session): assessment-early wins" in text
    assert text.index("(primary)") < text.index("(secondary)")
    page.locator("details.planner summary").click()
    assert "reached strategy-session (judged on)" in section.inner_text()
    top, planner = section.bounding_box(), section.locator("details.planner").bounding_box()
    height = planner["y"] + planner["height"] - top["y"]  # the decision, metrics and planner
    page.screenshot(path=str(screenshots / "experiments-rung-metric.png"), full_page=True,
                    clip={**top, "height": height})  # fmt: skip

    page.goto(f"{live_server.url}/dashboard/funnels/follow/experiments/")
    email = page.get_by_role("region", name="Email tips")
    text = email.inner_text()
    assert "judged on next-rung" in text and "block images" in text
    assert "next-rung (primary)" in text and "chance to beat control" in text
    assert "Ship a version" in text
    email.screenshot(path=str(screenshots / "experiments-email-test.png"))


def send_tested_email(version, leads: int) -> None:
    """`leads` sends of the email under test, each lead's own version, some opened, clicked
    and followed by the next rung (rows as the outbox leaves them)."""
    now = timezone.now()
    for i in range(leads):
        lead = Lead.objects.create(email=f"t{i}@example.com", status=Lead.Status.CONFIRMED)
        variant = variant_for(version.spec, "tips", lead.pk)
        every = 2 if variant == "short" else 8  # the short one is followed more often
        Message.objects.create(
            key=f"follow:tips:{lead.pk}", lead=lead, to=lead.email, version=version,
            template="tips", variant=variant, subject="-", text="-", html="-",
            header_id=f"<{i}@example.com>", state=Message.State.SENT, sent_at=now,
            opened_at=now if i % 3 else None, clicked_at=now if i % every == 0 else None,
        )  # fmt: skip
        if i % every == 0:
            Event.objects.create(name=EventName.STEP_COMPLETED, step_key="call", lead=lead,
                                 visitor=Visitor.objects.create(lead=lead), funnel_version=version,
                                 occurred_at=now + timedelta(hours=2))  # fmt: skip
