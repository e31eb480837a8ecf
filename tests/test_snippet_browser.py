"""The snippet on a plain HTML page of another origin, in headless Chromium: a page view, a
marked click, a video watched past 80 %, a scroll to the end and an opt-in form arrive."""

import gzip
import time
from pathlib import Path

import pytest

from tests.conftest import NEEDS_CHROMIUM, another_site, sourced_from
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking import api, sites
from yesladder.tracking.models import Event

SNIPPET = Path(__file__).resolve().parent.parent / "src/yesladder/tracking/static/yesladder/yl.js"
VIDEO = Path(__file__).resolve().parent.parent / "examples/solo-ad/walkthrough.mp4"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    NEEDS_CHROMIUM,
    pytest.mark.browser,
]

PAGE = """<!doctype html><html><head><title>How to audit your traffic</title></head>
<body data-yl-funnel="clean" data-yl-step="guide">
<h1>How to audit your traffic</h1>
<button data-yl-event="Demo Requested">Book a demo</button>
<video src="/walkthrough.mp4" muted playsinline></video>
<div style="height: 3000px">A long read.</div>
<form data-yl-optin data-yl-consent="Email me the checklist" onsubmit="return false">
  <input type="email" name="email"><input name="company"><button>Send it</button>
</form>
<script src="{server}/static/yesladder/yl.js" data-key="{key}" defer></script>
</body></html>"""


def test_the_snippet_is_small():
    assert len(gzip.compress(SNIPPET.read_bytes())) < 5 * 1024


def wait_for_events(condition, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = list(Event.objects.all())
        if condition(events):
            return events
        time.sleep(0.2)
    return list(Event.objects.all())


@pytest.fixture
def blog(live_server):
    """Someone else's site: a plain HTTP server on another port (another origin) whose page
    includes the snippet from yesladder. Yields its origin and a setter for the write key."""
    served = {}

    def answer(path: str):
        if path.endswith(".mp4"):
            return VIDEO.read_bytes(), "video/mp4"
        page = served.get("page", PAGE)
        return page.format(server=live_server.url, key=served["key"]).encode(), "text/html"

    with another_site(answer) as origin:
        yield origin, served


def test_the_snippet_counts_what_a_visitor_does_on_another_site(blog, browser_page, clean):
    load_funnel(sourced_from(clean))
    api.forget_write_keys()
    origin, served = blog
    key = sites.create_key("blog", [origin])
    served["key"] = key.key
    page = browser_page

    page.goto(f"{origin}/audit?utm_source=newsletter&utm_campaign=spring")
    page.get_by_role("button", name="Book a demo").click()
    page.evaluate("() => { const v = document.querySelector('video'); v.playbackRate = 4; "
                  "return v.play(); }")  # fmt: skip
    page.wait_for_function(
        "() => { const v = document.querySelector('video'); "
        "return v.duration && v.currentTime / v.duration > 0.8; }",
        timeout=30_000,
    )
    page.mouse.wheel(0, 5000)
    page.fill("input[type=email]", "Reader@Example.com")
    page.fill("input[name=company]", "Acme")
    page.get_by_role("button", name="Send it").click()

    def arrived(events):
        names = {(e.name, e.label) for e in events}
        return (
            {("identified", ""), ("tracked", "Demo Requested")} <= names
            and any(
                e.name == "video_progress" and e.properties.get("percent") == 75 for e in events
            )
            and any(e.name == "read_progress" and "scroll" in e.properties for e in events)
        )

    events = wait_for_events(arrived)
    assert arrived(events), sorted({(e.name, e.label) for e in events})
    page_view = next(e for e in events if e.name == "page_viewed")
    assert page_view.properties["utm_campaign"] == "spring"
    assert page_view.properties["url"].startswith(f"{origin}/audit")
    assert page_view.visitor.utm_source == "newsletter"
    steps = {e.step_key for e in events if e.name in ("video_progress", "step_viewed")}
    assert steps == {"guide"}  # the page said which step it is
    lead = Lead.objects.get(email="reader@example.com")
    assert lead.profile["company"] == "Acme" and lead.status == Lead.Status.CONFIRMED
    assert lead.consents.get().text == "Email me the checklist"
    assert lead.timeline().count() == len(events)  # the whole visit is the lead's now
    assert not any(e.is_bot for e in events)


VARIANT_PAGE = """<!doctype html><html><head><title>The guide</title></head>
<body data-yl-funnel="b2b-ladder" data-yl-step="guide"><h1>The guide</h1>
<script>document.addEventListener("yesladder:variant", e => {{ window.told = e.detail; }});</script>
<script src="{server}/static/yesladder/yl.js" data-key="{key}" defer></script>
</body></html>"""


@pytest.mark.experiments
def test_the_snippet_shows_the_page_its_visitor_s_variant(blog, browser_page):
    from yesladder.experiments.models import Exposure
    from yesladder.funnels.spec import read_spec

    load_funnel(read_spec(VIDEO.parents[1] / "b2b-ladder.yaml"))
    api.forget_write_keys()
    origin, served = blog
    served["key"], served["page"] = sites.create_key("blog", [origin]).key, VARIANT_PAGE
    page = browser_page
    page.goto(f"{origin}/guide")
    page.wait_for_function("() => window.told", timeout=15_000)
    told = page.evaluate("() => window.told")
    exposure = Exposure.objects.get()
    assert told == {"funnel": "b2b-ladder", "experiment": "assessment-early",
                    "variant": exposure.variant}  # fmt: skip
    assert page.get_attribute("body", "data-yl-variant") == exposure.variant
    assert page.evaluate("() => window.yesladder.variant('b2b-ladder')") == exposure.variant
    page.goto(f"{origin}/guide?again")  # the next page has it before any answer
    assert page.get_attribute("body", "data-yl-variant") == exposure.variant
