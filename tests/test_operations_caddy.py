"""The production setup of docs/deploy.md, tested: Debian's Caddy, with its internal CA, in front
of a real `yesladder serve` on loopback, using the Caddyfile `yesladder deploy caddy` writes.
http is redirected to https; session and CSRF cookies are Secure; HSTS is set; CSRF works with
the https origin (and refuses another); the visitor's address seen by the pages (consent
records, per-address limits) is the one Caddy saw, and what a client puts in X-Forwarded-For
itself changes nothing, through Caddy or straight to the server.

The one test of the suite that reads the wall clock: OpenSSL checks Caddy's certificates
against the real time, which time_machine cannot reach."""

import http.client
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.conftest import run_cli
from yesladder.localserver import free_port, local_server

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "solo-ad.yaml"
CADDY = shutil.which("caddy") or "/usr/bin/caddy"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CADDY) and not os.environ.get("CI"),
    reason="Debian's caddy is not installed (CI installs it)",
)
VISITOR, STRANGER = "127.0.0.2", "127.0.0.3"  # loopback addresses the clients send from


@pytest.fixture
def site(tmp_path):
    """yesladder serve behind Caddy; yields (https port, http port, CA file, data directory)."""
    home = tmp_path / "home"
    run_cli("load", str(EXAMPLE), home=home, check=True)
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    subprocess.run([sys.executable, "-m", "yesladder.cli", "createsuperuser", "--no-input",  # noqa: S603
                    "--username", "boss", "--email", "boss@example.com"], check=True,
                   env={**environ, "YESLADDER_HOME": str(home),
                        "DJANGO_SUPERUSER_PASSWORD": "pw-boss-1234"})  # fmt: skip
    https, plain = free_port(), free_port()
    origin = f"https://127.0.0.1:{https}"
    env = {
        "YESLADDER_HOME": str(home), "DATABASE_URL": "", "YESLADDER_HTTPS": "true",
        "YESLADDER_TRUSTED_PROXIES": "1", "YESLADDER_TRUSTED_PROXY_ADDRESSES": "127.0.0.1",
        "YESLADDER_ALLOWED_HOSTS": "127.0.0.1", "YESLADDER_CSRF_TRUSTED_ORIGINS": origin,
    }  # fmt: skip
    with local_server(env, follow_ups=False) as base:
        upstream = base.removeprefix("http://")
        deployed = run_cli("deploy", "caddy", "--domain", "127.0.0.1", "--upstream", upstream,
                           "--to", str(tmp_path / "caddy"), home=home)  # fmt: skip
        assert deployed.returncode == 0, deployed.stderr
        shipped = (tmp_path / "caddy" / "Caddyfile").read_text()
        storage = tmp_path / "caddy-data"
        # Only what a test needs on top of the shipped file: its own ports, the internal CA
        # instead of Let's Encrypt, nothing installed into the system's trust store.
        lines = [f"http_port {plain}", f"https_port {https}", "local_certs", "skip_install_trust",
                 "admin off", f"storage file_system {storage}"]  # fmt: skip
        options = "{\n" + "".join(f"\t{line}\n" for line in lines) + "}\n"
        (tmp_path / "caddy" / "Caddyfile").write_text(options + shipped)
        caddy = subprocess.Popen(
            [CADDY, "run", "--config", str(tmp_path / "caddy" / "Caddyfile"),
             "--adapter", "caddyfile"],
            env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
                 "XDG_CONFIG_HOME": str(tmp_path), "PATH": os.environ["PATH"]},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            ca = storage / "pki" / "authorities" / "local" / "root.crt"
            _wait_for(lambda: ca.exists() and _answers(https, ca), caddy)
            yield https, plain, ca, home
        finally:
            caddy.terminate()
            caddy.wait(timeout=30)


def _answers(port: int, ca: Path) -> bool:
    try:
        return _https(port, ca, "GET", "/healthz").status == 200
    except (OSError, ssl.SSLError):
        return False


def _wait_for(ready, process, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"caddy stopped: {process.stderr.read().decode()[-2000:]}")
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError("caddy did not answer over https in time")


class Answer:
    def __init__(self, response: http.client.HTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.read().decode("utf-8", "replace")

    def cookies(self) -> dict[str, str]:
        """Set-Cookie lines by cookie name."""
        return {line.split("=", 1)[0]: line for line in self.headers.get_all("Set-Cookie") or []}


def _https(port, ca, method, path, body=None, headers=None, source=VISITOR) -> Answer:
    context = ssl.create_default_context(cafile=str(ca))
    return _ask(http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30,
                                            source_address=(source, 0)),
                method, path, body, headers)  # fmt: skip


def _plain(port, method, path, body=None, headers=None, source=STRANGER) -> Answer:
    return _ask(http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                           source_address=(source, 0)),
                method, path, body, headers)  # fmt: skip


def _ask(connection: http.client.HTTPConnection, method, path, body, headers) -> Answer:
    try:
        connection.request(method, path, body=body, headers=headers or {})
        return Answer(connection.getresponse())
    finally:
        connection.close()


def _form(page: Answer) -> tuple[str, str]:
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    cookie = page.cookies()["csrftoken"].split(";", 1)[0]
    return token, cookie


def test_behind_caddy_the_site_is_https_only_with_secure_cookies_hsts_and_csrf(site):
    https, plain, ca, home = site
    origin = f"https://127.0.0.1:{https}"

    moved = _plain(plain, "GET", "/f/solo-ad/", headers={"Host": "127.0.0.1"}, source=VISITOR)
    assert moved.status in (301, 308)
    location = moved.headers["Location"]
    assert location.startswith("https://127.0.0.1") and location.endswith("/f/solo-ad/")

    page = _https(https, ca, "GET", "/f/solo-ad/optin/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "; Secure" in page.cookies()["csrftoken"]
    assert "; Secure" in page.cookies()["yl_vid"]
    token, csrf_cookie = _form(page)
    visitor_cookie = page.cookies()["yl_vid"].split(";", 1)[0]
    cookies = f"{csrf_cookie}; {visitor_cookie}"

    def opt_in(email, origin_header, forwarded="203.0.113.9"):
        body = urlencode({"csrfmiddlewaretoken": token, "email": email})
        return _https(https, ca, "POST", "/f/solo-ad/optin/", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies,
            "Origin": origin_header, "Referer": origin + "/f/solo-ad/optin/",
            "X-Forwarded-For": forwarded,  # the client's own claim: must change nothing
        })  # fmt: skip

    assert opt_in("eve@example.com", "https://evil.example").status == 403
    accepted = opt_in("ada@example.com", origin)
    assert accepted.status == 302, accepted.body[:500]
    assert accepted.headers["Location"].endswith("/f/solo-ad/freebie/")

    with sqlite3.connect(home / "yesladder.sqlite3") as db:
        consents = db.execute("SELECT l.email, c.ip FROM leads_consent c "
                              "JOIN leads_lead l ON l.id = c.lead_id").fetchall()  # fmt: skip
    assert consents == [("ada@example.com", VISITOR)]  # the address Caddy saw, not the claim

    # The staff sign-in: its session cookie is Secure too.
    login = _https(https, ca, "GET", "/admin/login/")
    token, csrf_cookie = _form(login)
    signed_in = _https(https, ca, "POST", "/admin/login/?next=/admin/", body=urlencode({
        "csrfmiddlewaretoken": token, "username": "boss", "password": "pw-boss-1234"}),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": csrf_cookie,
                 "Origin": origin, "Referer": origin + "/admin/login/"})  # fmt: skip
    assert signed_in.status == 302, signed_in.body[:500]
    session = signed_in.cookies()["sessionid"]
    assert "; Secure" in session and "; HttpOnly" in session


def test_a_client_straight_to_the_server_cannot_claim_https_or_an_address(site, tmp_path):
    """Plain http to `yesladder serve` itself (bypassing Caddy), with the headers Caddy would
    add: not from the trusted proxy, so they are dropped, and the page is sent to https."""
    https, plain, ca, home = site
    server_port = int(
        re.search(r"reverse_proxy 127\.0\.0\.1:(\d+)",
                  (tmp_path / "caddy" / "Caddyfile").read_text()).group(1)
    )  # fmt: skip
    claims = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    sneaky = _plain(server_port, "GET", "/f/solo-ad/optin/", headers=claims)
    assert sneaky.status == 301 and sneaky.headers["Location"].startswith("https://")
    probe = _plain(server_port, "GET", "/healthz", headers={"Host": "127.0.0.1"})
    assert probe.status == 200  # probes and Prometheus ask on loopback over plain http
