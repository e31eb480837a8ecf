"""The browser tracking libraries people already run, unchanged, on a page of another origin in
headless Chromium, pointed at a live yesladder: Segment's analytics.js (analytics-next) and
RudderStack's JavaScript SDK, each loaded from the tests' own npm packages (no CDN: a request
to any other host fails the test). For each: identify finds the lead and stitches the anonymous
history (this browser's and another device's, by alias) into one person, a step action moves
the journey, a request whose answer was lost and that the library sends again is stored once,
and a wrong key is refused through the library's own error path, once."""

import json
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.conftest import NEEDS_CHROMIUM, another_site
from tests.tracking_clients import (
    EMAIL,
    NEEDS_NODE_MODULES,
    NODE_MODULES,
    STEP,
    Witness,
    assert_one_person_who_moved_on,
    ladder,
    wait_for,
)
from yesladder.tracking import api, sites
from yesladder.tracking.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), NEEDS_CHROMIUM, NEEDS_NODE_MODULES,
              pytest.mark.browser]  # fmt: skip

# What each library is, where its browser build lives in its npm package, and how a page loads
# it without its vendor's CDN or control plane: the settings those would send, given inline.
LIBRARIES = {
    "analytics-next": {
        "file": "@segment/analytics-next/dist/umd/index.js",
        "load": """
            const [host, path] = [API.replace(/^https?:\\/\\//, ''), '/v1'];
            window.errors = [];
            window.analytics = AnalyticsNext.AnalyticsBrowser.load({
                writeKey: KEY, cdnURL: location.origin,
                cdnSettings: {integrations: {'Segment.io': {apiKey: KEY, apiHost: host + path,
                                                            protocol: 'http'}}},
            });
            analytics.on('error', (error) => errors.push(String(error.reason)));
        """,
    },
    "rudderstack": {
        "file": "@rudderstack/analytics-js/dist/npm/modern/bundled/umd/index.js",
        "load": """
            window.errors = [];
            const log = console.error;
            console.error = (...args) => { errors.push(args.join(' ')); log(...args); };
            window.analytics = new rudderanalytics.RudderAnalytics();
            analytics.load(KEY, API, {
                getSourceConfig: () => ({source: {
                    id: 'site', name: 'site', writeKey: KEY, enabled: true, workspaceId: 'w',
                    updatedAt: new Date().toISOString(), destinations: [],
                    config: {statsCollection: {errors: {enabled: false},
                                               metrics: {enabled: false}}}}}),
                queueOptions: {minRetryDelay: 100},  // a quick test
                pluginsSDKBaseURL: location.origin, destSDKBaseURL: location.origin,
                logLevel: 'ERROR',
            });
        """,
    },
}
# Both libraries share the calls' shape: (name, properties, options) and (userId, traits).
# The anonymous visit, then (once it is stored) the opt-in and what follows, as a visitor
# reads before giving an email. (Sent at the same moment, the two are stitched all the same:
# tests/test_stitching_race.py.)
CALLS = """
    async ([calls, email, step]) => {
        const call = (method, ...args) => new Promise((done) => {
            analytics[method](...args, () => done());
            setTimeout(done, 1000);  // a callback a library does not call must not hang the test
        });
        const anonymous = [['page', 'Guide', {url: location.href}], ['track', 'step_viewed', step],
                           ['track', 'Step Completed', step]];
        const known = [['identify', 'u-1', {email, company: 'Acme'}],
                       ['track', 'Plan Chosen', {plan: 'pro'}], ['alias', 'u-1', 'tablet'],
                       ['group', 'acme', {name: 'Acme Inc'}]];
        for (const args of calls === 'anonymous' ? anonymous : known) await call(...args);
        return calls === 'anonymous' ? anonymous.length : known.length;
    }
"""
PAGE = """<!doctype html><html><head><title>Guide</title></head><body><h1>Guide</h1>
<script src="/lib/{file}"></script>
<script>const [API, KEY] = {settings}; {load}</script>
</body></html>"""


@pytest.fixture
def site(live_server):
    """Someone else's site on another origin: serves a page per library, with the library's
    build from the tests' own node_modules. Yields its origin and the page's settings."""
    served = {}
    files = {library["file"] for library in LIBRARIES.values()}

    def answer(path: str):
        path = urlsplit(path).path
        library = LIBRARIES.get(path.strip("/"))
        if library:
            settings = json.dumps([live_server.url, served["key"]])
            return PAGE.format(settings=settings, **library).encode(), "text/html"
        if path.removeprefix("/lib/") in files:
            return (NODE_MODULES / path.removeprefix("/lib/")).read_bytes(), "text/javascript"
        return None

    with another_site(answer) as origin:
        api.reset_limits()
        api.forget_write_keys()
        served["key"] = sites.create_key("shop", [origin]).key
        yield origin, served


@pytest.fixture
def page(browser_page, live_server, site):
    """The browser page, every request to a host other than ours and the site's remembered
    (this machine has no other): the libraries must load without their vendors' servers."""
    elsewhere = []
    ours = {urlsplit(live_server.url).netloc, urlsplit(site[0]).netloc}
    browser_page.context.on(
        "request", lambda r: urlsplit(r.url).netloc in ours or elsewhere.append(r.url)
    )
    yield browser_page
    assert elsewhere == []


def seen_on_the_tablet(server: str, key: str) -> None:
    """The same person, earlier, on another device: the alias in the scenario names it."""
    body = {"writeKey": key, "anonymousId": "tablet", "event": "Pricing Viewed"}
    request = urllib.request.Request(f"{server}/v1/track", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_browser_library_s_calls_make_one_person_who_moves_on(
    library, page, site, live_server, monkeypatch
):
    ladder()
    origin, served = site
    seen_on_the_tablet(live_server.url, served["key"])
    witness = Witness(monkeypatch, lose_first=True)
    page.goto(f"{origin}/{library}")

    calls = 1
    for part in ("anonymous", "known"):
        calls += page.evaluate(CALLS, [part, EMAIL, STEP])
        assert wait_for(lambda n=calls: Event.objects.count() >= n and 200 in witness.statuses)

    witness.quiet_for(0.3)
    assert witness.statuses[0] == 503
    assert_one_person_who_moved_on(["call"] * calls)
    assert page.evaluate("errors") == []


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_browser_library_is_told_a_wrong_key_once(library, page, site, monkeypatch):
    witness = Witness(monkeypatch)
    origin, served = site
    served["key"] = "not-a-key"
    page.goto(f"{origin}/{library}")

    page.evaluate("analytics.track('Opened', {})")

    assert wait_for(lambda: page.evaluate("errors.length") > 0)
    assert witness.quiet_for(1.0) == [401]
    assert any("401" in error for error in page.evaluate("errors"))
