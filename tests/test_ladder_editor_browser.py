"""The ladder editor in headless Chromium: an editor signs in, changes a step's title in the code
editor, breaks a line and sees the finding on that line, fixes it, publishes, and the visitor's
page shows the new title; a rollback serves the old one; a second editor's publish from the old
version is refused with the first one's changes. Screenshots of the editor and the versions
page go to $YESLADDER_SCREENSHOTS when set."""

from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM
from tests.staff import member, screenshots, sign_in  # noqa: F401 (a fixture)
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OLD = "The 5 leaks in your sales pipeline"
NEW = "Five leaks, fixed in a week"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM]


def open_editor(page, base: str, username: str) -> None:
    sign_in(page, base, username, "/dashboard/funnels/b2b-ladder/edit/")
    page.wait_for_selector(".cm-editor")


def retype(page, old: str, new: str, errors: int) -> int:
    """Select the first `old` in the editor (as a person would with the mouse), type `new`
    over it key by key, and wait until the check of the new text says `errors`; returns the
    line it is on."""
    before = page.evaluate("window.yesladderLintTimes.length")
    line = page.evaluate(
        """(text) => { const view = window.yesladderEditor;
             const from = view.state.doc.toString().indexOf(text);
             view.dispatch({selection: {anchor: from, head: from + text.length}});
             view.focus(); return view.state.doc.lineAt(from).number; }""",
        old,
    )
    page.keyboard.type(new)
    # The check of the whole text: asked a pause after the last key (a slow machine may have
    # checked a part of it on the way), and the one shown is the last asked.
    page.wait_for_timeout(400)
    page.wait_for_function(
        """(n) => window.yesladderLintTimes.length > n
                  && document.body.dataset.checked === document.body.dataset.asked""",
        arg=before,
    )
    assert page.locator("#lint-status").get_attribute("data-errors") == str(errors)
    return line


def test_edit_break_fix_publish_roll_back_and_a_stale_publish(
    live_server,
    browser_page,
    screenshots,  # noqa: F811 (the fixture)
):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    member("ed", "editor")
    member("bo", "editor")
    base = live_server.url
    page = browser_page
    page.set_viewport_size({"width": 1280, "height": 900})

    # A second editor opens the same version before the first publishes.
    other_context = page.context.browser.new_context(viewport={"width": 1280, "height": 900})
    other = other_context.new_page()
    open_editor(other, base, "bo")
    retype(other, "cta: Email me the checklist", "cta: Send me the checklist", errors=0)

    open_editor(page, base, "ed")
    retype(page, OLD, NEW, errors=0)
    assert f"+    title: {NEW}" in page.locator("#diff").inner_text()

    # A step kind that does not exist: the finding sits on its line, in the gutter too.
    line = retype(page, "kind: content", "kind: article", errors=1)
    finding = page.locator("#findings li.error")
    assert finding.get_attribute("data-line") == str(line)
    assert "unknown step kind 'article'" in finding.inner_text()
    gutter = page.locator(".cm-gutter-lint .cm-gutterElement").filter(
        has=page.locator(".cm-lint-marker-error")
    )
    assert gutter.count() == 1
    marker_top = gutter.bounding_box()["y"]
    line_top = page.locator(".cm-line").nth(line - 1).bounding_box()["y"]
    assert abs(marker_top - line_top) < 4
    page.screenshot(path=str(screenshots / "editor-finding.png"), full_page=True)

    retype(page, "kind: article", "kind: content", errors=0)
    assert page.locator("#previews a").first.inner_text() == NEW
    times = page.evaluate("window.yesladderLintTimes")
    assert len(times) >= 3
    page.screenshot(path=str(screenshots / "editor.png"), full_page=True)

    page.get_by_role("button", name="Publish", exact=True).click()
    page.wait_for_url("**/dashboard/funnels/b2b-ladder/versions/")
    assert "Published version 2" in page.locator(".messages").inner_text()
    page.screenshot(path=str(screenshots / "versions.png"), full_page=True)
    visitor = page.context.browser.new_context().new_page()
    visitor.goto(f"{base}/f/b2b-ladder/guide/")
    assert visitor.get_by_role("heading", name=NEW).is_visible()

    # The second editor publishes from version 1: refused, the first one's change shown.
    other.get_by_role("button", name="Publish", exact=True).click()
    other.wait_for_selector("#refused")
    assert "version 2 was published since by ed" in other.locator("#refused").inner_text()
    assert f"+    title: {NEW}" in other.locator("pre.diff").first.inner_text()
    assert Funnel.objects.get(key="b2b-ladder").current_version().number == 2

    # Roll back: version 1 published again as version 3, and visitors get the old title.
    page.get_by_role("row").filter(has_text="loaded from a file").get_by_role(
        "link", name="Roll back to this"
    ).click()
    page.get_by_role("button", name="Publish version 1 again").click()
    page.wait_for_url("**/dashboard/funnels/b2b-ladder/versions/")
    assert "published again as version 3" in page.locator(".messages").inner_text()
    visitor.goto(f"{base}/f/b2b-ladder/guide/")
    assert visitor.get_by_role("heading", name=OLD).is_visible()
    visitor.context.close()
    other_context.close()
