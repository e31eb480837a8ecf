"""The list in headless Chromium: an owner imports 1,000 rows of which 3 are bad (the dry run
lists them, then the import, which the page follows while the worker stores it), exports the
list and reads it back; a viewer can neither publish, import nor export personal data. A
screenshot of the dry run goes to $YESLADDER_SCREENSHOTS."""

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM
from tests.staff import member, screenshots, sign_in  # noqa: F401 (a fixture)
from tests.test_lead_list import thousand_rows_three_bad
from yesladder.dashboard import importruns
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Lead

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


def test_import_a_thousand_export_and_read_back(
    live_server,
    browser_page,
    screenshots,  # noqa: F811 (the fixture)
    tmp_path,
):
    member("olga", "owner")
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server.url, "olga", "/dashboard/leads/")
    page.get_by_role("link", name="Import a CSV…").click()
    file = tmp_path / "fair.csv"
    file.write_bytes(thousand_rows_three_bad())
    page.get_by_label("CSV file").set_input_files(str(file))
    page.get_by_label("Consent basis of this list").fill("Signed up at the fair, 2025")
    page.get_by_label("Tag every lead imported").fill("fair")
    page.get_by_role("button", name="Dry run").click()
    counts = page.locator("#dry-run-counts")
    counts.wait_for()
    assert "997 to import" in " ".join(counts.inner_text().split())
    assert page.locator("#bad-rows tbody tr").count() == 3
    assert not Lead.objects.exists()
    page.screenshot(path=str(screenshots / "import-dry-run.png"), full_page=True)

    page.get_by_role("button", name="Import 997 rows").click()
    page.locator("#import-progress").wait_for()  # the worker stores it; the page follows
    assert "0 of 997 rows stored" in " ".join(page.locator("#import-state").inner_text().split())
    assert importruns.work(seconds=60) == 997
    page.locator("#import-counts").wait_for()  # the page reloads itself until it is done
    assert "997 new" in " ".join(page.locator("#import-counts").inner_text().split())
    assert Lead.objects.count() == 997

    page.get_by_role("link", name="See them in the list").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these as CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(rows) == 997
    assert {r["consent_basis"] for r in rows} == {"Signed up at the fair, 2025"}
    five = next(r for r in rows if r["email"] == "person5@example.com")
    assert five["fields"] == "company==HYPERLINK(1)" and five["tags"] == "vip; fair"


def test_a_viewer_cannot_publish_import_or_export_personal_data(live_server, browser_page):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    Lead.objects.create(email="ada@example.com")
    member("vera", "viewer")
    page = browser_page
    base = live_server.url
    sign_in(page, base, "vera", "/dashboard/leads/")
    assert "ada@example.com" in page.content()  # reads everything
    assert page.get_by_role("link", name="Export these as CSV").count() == 0
    assert page.get_by_role("link", name="Import a CSV…").count() == 0
    for path in ("/dashboard/leads/export.csv", "/dashboard/leads/import/",
                 "/dashboard/funnels/b2b-ladder/edit/"):  # fmt: skip
        response = page.goto(base + path)
        assert response.status == 403, path
        assert "Nothing was changed" in page.content()
    # A publish posted from a page of hers is refused too (she has no editor to post from).
    status = page.evaluate(
        """async () => { const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
             const r = await fetch('/dashboard/funnels/b2b-ladder/edit/', {method: 'POST',
               headers: {'X-CSRFToken': token, 'Content-Type': 'application/x-www-form-urlencoded'},
               body: 'action=publish&text=funnel%3A%20b2b-ladder'});
             return r.status; }"""
    )
    assert status == 403
    page.goto(base + "/dashboard/funnels/b2b-ladder/versions/")
    assert page.get_by_role("link", name="Roll back to this").count() == 0
