"""Staff read an experiment in headless Chromium: sign in, open the funnel, follow its
Experiments link, see the split check before the variants side by side and the decision in
plain words. Screenshots go to $YESLADDER_SCREENSHOTS when set, else to pytest's tmp_path."""

import os
from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM
from tests.test_dashboard_funnel_browser import sign_in
from tests.test_experiments import EXAMPLES, EXPERIMENT, people
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


def test_staff_read_an_experiment(live_server, browser_page, tmp_path):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    base = Funnel.objects.get().current_version()
    people(base, "education-first", 1600, 160, revenue=99000)
    people(base, EXPERIMENT, 1600, 260, revenue=99000)
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/dashboard/funnels/b2b-ladder/")
    page.get_by_role("link", name="Experiments").click()
    page.wait_for_url("**/dashboard/funnels/b2b-ladder/experiments/")
    section = page.get_by_role("region", name="Assessment early vs education first")
    text = section.inner_text()
    assert text.index("Split check") < text.index("Decision") < text.index("exposed")
    assert "assessment-early wins" in text
    assert page.locator("figure.variant").count() == 2
    charts = page.locator("img.variant-chart")
    assert charts.count() == 2  # each variant's ladder, drawn by the report's chart code
    page.wait_for_function("() => [...document.querySelectorAll('img.variant-chart')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")  # fmt: skip
    folder = Path(os.environ.get("YESLADDER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / "experiments-desktop.png"), full_page=True)
