"""Every HTML page carries a Content-Security-Policy (threat 7: tracked data as stored XSS).

The visitor's pages, the admin and the API's docs page each get theirs from
yesladder.security; the dashboard keeps its own stricter one; JSON and static files get none.
In headless Chromium, funnel pages and the admin's event log full of hostile tracked data run
under their policy without a single violation, and nothing in that data ever runs.
"""

import datetime as dt
import shutil
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.contrib import admin
from django.contrib.auth.models import User
from django.db import connections

from tests.conftest import BLOG, CHROMIUM, NEEDS_CHROMIUM, sourced_from
from yesladder import security
from yesladder.dashboard.access import POLICY as DASHBOARD_POLICY
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.services import new_visitor
from yesladder.steps.kinds.sharing import SHARE_CHANNELS
from yesladder.tracking import sites
from yesladder.tracking.models import Event
from yesladder.tracking.services import record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
VIDEO = EXAMPLES / "solo-ad/walkthrough.mp4"
HEADER = "Content-Security-Policy"
SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT}{BREAKOUT}"
PASSWORD = "pw-staff-1234"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("staff", "staff@example.com", PASSWORD)


@pytest.fixture
def hostile_events(db):
    """The event log as strangers can fill it: every field they control carries a payload."""
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    version = current_version("b2b-ladder")
    visitor = new_visitor(
        f"Mozilla/5.0 {HOSTILE}",
        f"https://example.com/?q={HOSTILE}",
        f"https://evil.example/{BREAKOUT}",
        {"utm_source": SCRIPT, "utm_campaign": BREAKOUT},
    )
    for name in (EventName.STEP_VIEWED, EventName.CTA_CLICKED):
        record(name, visitor, version, "guide", {
            "label": HOSTILE, "url": f"javascript:alert(1)//{BREAKOUT}",
            "referrer": BREAKOUT, "user_agent": SCRIPT, f"key{BREAKOUT}": [SCRIPT],
        })  # fmt: skip
    Event.objects.update(label=HOSTILE)
    return Event.objects.order_by("id")


# --- which page gets which policy ------------------------------------------------------------


def test_the_page_policy_allows_only_our_own_script_and_styles():
    policy = directives(security.page_policy())
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "frame-src" not in policy  # no step embeds a frame: default-src 'none' holds
    assert policy["form-action"][0] == "'self'"
    assert "https://checkout.stripe.com" in policy["form-action"]


@pytest.mark.parametrize("channel", sorted(SHARE_CHANNELS))
def test_every_share_button_may_leave_for_its_service(channel):
    parts = urlsplit(SHARE_CHANNELS[channel][1])
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"
    assert origin in directives(security.page_policy())["form-action"]


def test_the_tool_policy_keeps_script_and_styles_to_our_own_files():
    policy = directives(security.TOOL_POLICY)
    assert policy["script-src"] == policy["style-src"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_a_funnel_page_has_the_page_policy(client):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    response = client.get("/f/b2b-ladder/", follow=True)
    assert response.status_code == 200
    assert response[HEADER] == security.page_policy()


@pytest.mark.django_db
def test_the_unsubscribe_page_has_the_page_policy(client):
    response = client.get("/e/u/not-a-real-token/")
    assert response["Content-Type"].startswith("text/html")
    assert response[HEADER] == security.page_policy()


@pytest.mark.django_db
def test_a_page_not_found_has_the_page_policy(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response[HEADER] == security.page_policy()


@pytest.mark.django_db
def test_the_admin_login_page_has_the_tool_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response[HEADER] == security.TOOL_POLICY


def test_the_event_changelist_and_an_event_have_the_tool_policy(client, staff, hostile_events):
    client.force_login(staff)
    for url in ("/admin/tracking/event/", f"/admin/tracking/event/{hostile_events[0].pk}/change/"):
        response = client.get(url)
        assert response.status_code == 200
        assert response[HEADER] == security.TOOL_POLICY
        assert SCRIPT not in response.content.decode()


@pytest.mark.django_db
def test_the_api_docs_page_has_the_tool_policy(client):
    response = client.get("/v1/docs")
    assert response.status_code == 200
    assert response[HEADER] == security.TOOL_POLICY


def test_the_dashboard_keeps_its_own_policy(client, staff):
    client.force_login(staff)
    response = client.get("/dashboard/funnels/")
    assert response.status_code == 200
    assert response[HEADER] == DASHBOARD_POLICY
    assert "default-src 'none'" in response[HEADER]


def test_tracking_answers_and_static_files_have_none(client, tracker):
    answer = tracker.post("track", {"event": "Signed Up", "anonymousId": "a1"})
    assert answer.status_code == 200 and answer["Content-Type"] == "application/json"
    assert HEADER not in answer
    schema = client.get("/v1/openapi.json")
    assert schema.status_code == 200 and HEADER not in schema
    script = client.get("/static/yesladder/steps.js")
    assert script.status_code == 200 and HEADER not in script


# --- in a real browser ------------------------------------------------------------------------

CSP_FUNNEL = """
funnel: csp
name: Pages under their policy
steps:
  - key: guide
    kind: content
    title: The guide
    value: A short read
    cta: Go on
    body: |
      Useful words, and a chart from the team's media host.

      ![The chart](https://media.example.com/chart.png)
  - key: watch
    kind: video
    title: Watch
    value: Thirty seconds
    cta: Go on
    src: walkthrough.mp4
    duration: 30
    poster: https://media.example.com/poster.png
    captions: https://media.example.com/captions.vtt
  - key: pick
    kind: poll
    title: Pick one
    value: See how others answered
    question: Which one?
    options: [{key: a, label: This one}, {key: b, label: That one}]
  - key: join
    kind: optin
    title: Join
    value: Weekly tips
    cta: Join
  - key: tell
    kind: share
    title: Tell a friend
    value: A bonus chapter
    cta: Read on
    message: Worth a look.
    unlock: {when: referrals, count: 1}
    unlocks: The bonus chapter.
"""

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
WATCH_FOR_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const seen = `${e.effectiveDirective} ${e.blockedURI} ${e.sample}`;
  window.__violations.push(seen);
  window.__cspViolation(`${location.pathname}: ${seen}`);
});
"""


class Watched:
    """A browser page, and everything it says about its policy: violations reported in the
    page and on the console, and every dialog (which nothing in hostile data may open)."""

    def __init__(self, page):
        self.page, self.reported, self.console, self.dialogs = page, [], [], []
        # Called from the page but run by Playwright, so every page's reports reach this list.
        page.expose_function("__cspViolation", self._reported)
        page.add_init_script(WATCH_FOR_VIOLATIONS)
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _reported(self, violation: str):
        self.reported.append(violation)

    def _console(self, message):
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def violations(self) -> list[str]:
        return [*self.reported, *self.console]

    def assert_clean(self):
        assert self.violations() == []
        assert self.dialogs == []


def media_host(route):
    """The team's media host: no network here, so the browser gets its answer from the test."""
    if route.request.url.endswith(".vtt"):
        route.fulfill(status=200, body="WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n",
                      content_type="text/vtt")  # fmt: skip
    else:
        route.fulfill(status=200, body=PNG, content_type="image/png")


def own_style_and_script_work(page):
    """ladder.css styled the button, and steps.js ran (it keeps the visitor's time zone)."""
    page.wait_for_load_state()  # an answer to a POST can show its alert before its stylesheet
    radius = page.eval_on_selector("button[type=submit]", "b => getComputedStyle(b).borderRadius")
    assert radius == "8px"
    assert any(c["name"] == "yl_tz" for c in page.context.cookies())


@pytest.fixture
def csp_funnel(tmp_path):
    shutil.copy(VIDEO, tmp_path / "walkthrough.mp4")
    spec = tmp_path / "csp.yaml"
    spec.write_text(CSP_FUNNEL)
    load_funnel(read_spec(spec))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_funnel_pages_work_under_their_policy(live_server, browser_page, csp_funnel):
    page = browser_page
    page.context.route("https://media.example.com/**", media_host)
    watched = Watched(page)
    page.goto(f"{live_server.url}/f/csp/?utm_source={SCRIPT}&utm_campaign={BREAKOUT}")

    page.wait_for_function("() => document.querySelector('article img')?.naturalWidth > 0")
    own_style_and_script_work(page)
    page.get_by_role("button", name="Go on").click()

    page.wait_for_url("**/f/csp/watch/")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    page.get_by_role("button", name="Go on").click()

    page.wait_for_url("**/f/csp/pick/")
    page.get_by_role("button", name="This one").click()
    assert page.locator("progress.bar").count() == 2
    assert page.eval_on_selector("progress.bar", "p => p.getBoundingClientRect().height") > 0
    page.get_by_role("button", name="Continue").click()

    # What a visitor types comes back escaped, and nothing in it runs.
    page.wait_for_url("**/f/csp/join/")
    page.get_by_label("Email").fill(BREAKOUT)
    page.get_by_role("button", name="Join").click()
    page.get_by_role("alert").wait_for()
    assert page.get_by_label("Email").input_value() == BREAKOUT
    own_style_and_script_work(page)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Join").click()

    page.wait_for_url("**/f/csp/tell/")
    own_style_and_script_work(page)
    watched.assert_clean()

    refused_inline_script(watched)


def refused_inline_script(watched: Watched):
    """The policy is live: markup that escaped the escaping would still not run."""
    watched.page.evaluate(
        """() => {
            const s = document.createElement("script");
            s.textContent = "window.__ran = true";
            document.body.append(s);
            const img = '<img src="x" onerror="window.__ran = true">';
            document.body.insertAdjacentHTML("beforeend", img);
        }"""
    )
    watched.page.wait_for_function("() => window.__violations.length >= 2")
    assert watched.page.evaluate("window.__ran === undefined")
    assert {v.split()[0] for v in watched.page.evaluate("window.__violations")} == {
        "script-src-elem", "script-src-attr",
    }  # fmt: skip


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_the_admin_shows_hostile_tracked_data_inertly(
    live_server, browser_page, staff, hostile_events
):
    page = browser_page
    watched = Watched(page)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/tracking/event/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    page.wait_for_url("**/admin/tracking/event/")
    assert page.locator("#result_list tbody tr").count() == hostile_events.count()
    assert page.get_by_text(HOSTILE).count() >= hostile_events.count()
    admin_script_ran(page)
    watched.assert_clean()

    page.goto(f"{live_server.url}/admin/tracking/event/?q={SCRIPT}")
    assert page.locator("#result_list tbody tr").count() == hostile_events.count()
    admin_script_ran(page)
    page.goto(f"{live_server.url}/admin/tracking/event/{hostile_events[0].pk}/change/")
    assert page.get_by_text("onerror=alert(1)").count() >= 1
    admin_script_ran(page)
    watched.assert_clean()

    # Threat 7's test: render every admin view. Each works under the policy, as does the API's
    # docs page (Swagger UI draws the operations with its own script).
    sites.create_key(HOSTILE, [BLOG])
    for url in admin_pages():
        answer = page.goto(f"{live_server.url}{url}")
        if answer.status != 403:  # an add page of a read-only model
            assert answer.status == 200, url
            admin_script_ran(page)
    page.goto(f"{live_server.url}/v1/docs")
    page.locator(".opblock-summary").first.wait_for()
    watched.assert_clean()

    refused_inline_script(watched)


def admin_pages() -> list[str]:
    """The index, and each registered model's list, add page and first object's pages."""
    urls = ["/admin/", "/admin/password_change/"]
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        urls += [f"/admin/{model._meta.app_label}/", base, f"{base}add/"]
        first = model.objects.first()
        if first is not None:
            urls += [f"{base}{first.pk}/change/", f"{base}{first.pk}/history/"]
    return list(dict.fromkeys(urls))


def admin_script_ran(page):
    """theme.js marks the document with the chosen theme; the stylesheet laid out the header."""
    assert page.evaluate("document.documentElement.dataset.theme") == "auto"
    assert page.eval_on_selector("#header", "h => getComputedStyle(h).display") == "flex"


# --- the share buttons leave for their services ------------------------------------------------

SHARE_FIRST = """
funnel: tell
name: Tell a friend
steps:
  - key: tell
    kind: share
    title: Tell a friend
    value: A bonus chapter
    cta: Read on
    message: Worth a look.
    unlock: {when: referrals, count: 1}
    unlocks: The bonus chapter.
  - key: join
    kind: optin
    title: Join
    value: Weekly tips
    cta: Join
"""

# The services' own redirects: WhatsApp's short link hands over to its API host, and Facebook
# may send a phone to its mobile host.
ONWARD = {
    "wa.me": "https://api.whatsapp.com/send/?text=hi",
    "www.facebook.com": "https://m.facebook.com/sharer/sharer.php",
}
ARRIVES = {"X": "x.com", "LinkedIn": "www.linkedin.com", "Facebook": "m.facebook.com",
           "WhatsApp": "api.whatsapp.com"}  # fmt: skip


class Service(BaseHTTPRequestHandler):
    """Every share service at once, over TLS on loopback: a page naming its host, or a
    redirect on to the service's other host."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        host = self.headers["Host"].split(":")[0]
        if host in ONWARD:
            self.send_response(302)
            self.send_header("Location", ONWARD[host])
            self.end_headers()
            return
        body = f"<!doctype html><title>{host}</title><h1>{host}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def self_signed(folder: Path) -> ssl.SSLContext:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "share services")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def services(tmp_path):
    """The port the share services listen on."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    server.socket = self_signed(tmp_path).wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def services_page(monkeypatch, services):
    """A browser whose name lookups send each service's host to the local one."""
    from playwright.sync_api import sync_playwright

    hosts = [urlsplit(base).hostname for _, base, _ in SHARE_CHANNELS.values()]
    hosts += [urlsplit(url).hostname for url in ONWARD.values()]
    rules = ",".join(f"MAP {host} 127.0.0.1:{services}" for host in hosts if host)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
                  f"--host-resolver-rules={rules}"],
        )  # fmt: skip
        context = browser.new_context(viewport={"width": 390, "height": 844})
        yield context.new_page()
        context.close()
        browser.close()
        connections.close_all()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@NEEDS_CHROMIUM
def test_share_buttons_reach_their_services_through_every_redirect(live_server, services_page):
    """A share button's POST answers with a redirect to the service, and browsers check
    form-action on each hop of that chain, the service's own redirects included."""
    load_funnel(sourced_from(yaml.safe_load(SHARE_FIRST)))
    page = services_page
    watched = Watched(page)
    page.goto(f"{live_server.url}/f/tell/")
    share_page = page.url
    for button, host in ARRIVES.items():
        page.get_by_role("button", name=button).click()
        page.wait_for_url(f"https://{host}/**")
        assert page.locator("h1").inner_text() == host
        page.goto(share_page)
    watched.assert_clean()
