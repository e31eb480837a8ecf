"""Synthetic visitors walking a funnel through its real HTTP pages, as a browser would.

Each visitor has its own cookie jar, user agent, UTM source and address (sent as
X-Forwarded-For, which a server trusts only with YESLADDER_TRUSTED_PROXIES set). On every step it
goes on with the step's chance, else leaves; going on means reading the page's own forms and
submitting them the way a person would (answers, fields, the call to action). Requests never
leave the origin of the given URL: share buttons and off-site links are not followed.
"""

import contextlib
import random
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from urllib.parse import urlencode, urljoin, urlsplit

from django.utils.html import escape
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from yesladder.funnels.spec.schema import FunnelSpec

DEFAULT_CHANCE = 0.6
MAX_ACTIONS_PER_STEP = 20
PAYS = 0.9  # of those who reach the payment page, most pay; the rest decline

USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
]
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BOT_SHARE = 0.03

# (utm_source, utm_medium, utm_campaign, referrer, weight); None: a direct visit.
SOURCES = [
    ("newsletter", "email", "weekly", "", 25),
    ("google", "cpc", "brand", "https://www.google.com/", 20),
    ("facebook", "paid_social", "cold-audience", "https://www.facebook.com/", 20),
    ("linkedin", "social", "founder-posts", "https://www.linkedin.com/", 15),
    ("partner", "solo_ad", "partner-list", "", 10),
    (None, None, None, "", 10),
]
FIRST_NAMES = ["Ada", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jo"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Vandelay"]


# --- reading a page's forms ------------------------------------------------------------------


@dataclass
class Form:
    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)  # hidden and prefilled values
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (name, type) to fill in
    selects: dict[str, list[str]] = field(default_factory=dict)  # and checkbox groups: one
    bounds: dict[str, tuple[int, int]] = field(default_factory=dict)  # number inputs' min, max
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value)
    css: str = ""

    @property
    def purpose(self) -> str:
        return self.fields.get("action", "")


class PageReader(HTMLParser):
    """The forms and links of one page: all a synthetic visitor needs to act on it."""

    def __init__(self):
        super().__init__()
        self.forms: list[Form] = []
        self.links: list[str] = []
        self.readonly: list[str] = []
        self._form: Form | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._form = Form(action=a.get("action", ""), css=a.get("class", ""))
            self.forms.append(self._form)
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "input" and "readonly" in a:
            self.readonly.append(a.get("value", ""))
        elif self._form is not None:
            self._form_tag(tag, a)

    def _form_tag(self, tag: str, a: dict) -> None:
        form, name = self._form, a.get("name", "")
        if tag == "input" and name and a.get("type") == "hidden":
            form.fields[name] = a.get("value", "")
        elif tag == "input" and name and a.get("type") == "checkbox":
            form.selects.setdefault(name, []).append(a.get("value", "on"))
        elif tag == "input" and name:
            form.inputs.append((name, a.get("type", "text")))
            if a.get("min", "").isdigit() and a.get("max", "").isdigit():
                form.bounds[name] = (int(a["min"]), int(a["max"]))
        elif tag == "textarea" and name:
            form.inputs.append((name, "textarea"))
        elif tag == "select" and name:
            self._select = name
            form.selects[name] = []
        elif tag == "option" and self._select and a.get("value") != "":
            form.selects[self._select].append(a.get("value") or "")
        elif tag == "button":
            form.buttons.append((name, a.get("value", "")))

    def handle_data(self, data):
        # an <option> without a value attribute submits its text
        if self._select and self.lasttag == "option" and data.strip():
            options = self._form.selects[self._select]
            if options and options[-1] == "":
                options[-1] = data.strip()

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    return reader


# --- one visitor's browser -------------------------------------------------------------------


class OffSite(Exception):
    """A redirect away from the simulated server: never followed."""


@dataclass
class Response:
    url: str
    status: int
    html: str


class Browser:
    """A cookie jar, a user agent and an address; follows redirects within one origin only."""

    def __init__(self, origin: str, user_agent: str, address: str, stats: "Stats"):
        self.origin, self.stats = origin, stats
        self.headers = {"User-Agent": user_agent, "X-Forwarded-For": address}
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirects()
        )

    def get(self, url: str, referrer: str = "") -> Response:
        return self._send(url, None, referrer)

    def post(self, url: str, data: dict) -> Response:
        return self._send(url, urlencode(data).encode(), url)

    def _send(self, url: str, body: bytes | None, referrer: str) -> Response:
        for _ in range(10):
            url = urljoin(self.origin, url)
            if urlsplit(url)[:2] != urlsplit(self.origin)[:2]:  # scheme and host
                raise OffSite(url)
            headers = {**self.headers, **({"Referer": referrer} if referrer else {})}
            # the origin's scheme is http(s), checked by the command: no file: or custom URLs
            request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310
            status, location, html = self._open(request)
            if status in (301, 302, 303, 307, 308) and location:
                url, body, referrer = location, None, url
                continue
            return Response(url=url, status=status, html=html)
        raise OffSite("too many redirects")

    def _open(self, request) -> tuple[int, str, str]:
        started = time.perf_counter()
        try:
            with self.opener.open(request, timeout=30) as answer:
                status, headers, raw = answer.status, answer.headers, answer.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, error.headers, error.read()
        self.stats.request(status, time.perf_counter() - started)
        kind = headers.get("Content-Type", "")
        html = raw.decode("utf-8", "replace") if kind.startswith("text/html") else ""
        return status, headers.get("Location", ""), html

    def visitor_id(self) -> str | None:
        return next((c.value for c in self.jar if c.name == "yl_vid"), None)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # Browser follows redirects itself, checking the origin first


# --- the walk --------------------------------------------------------------------------------


@dataclass
class Stats:
    """What the simulation did, shared by the worker threads."""

    requests: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    reached: Counter = field(default_factory=Counter)
    went_on: Counter = field(default_factory=Counter)
    stopped_unserved: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    leads: int = 0
    downloads: int = 0
    finished: int = 0
    bots: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def request(self, status: int, seconds: float) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if status >= 500 or status in (403, 405):
                self.errors[status] += 1

    def add(self, counter: str, key: str = "", n: int = 1) -> None:
        with self.lock:
            value = getattr(self, counter)
            if isinstance(value, Counter):
                value[key] += n
            else:
                setattr(self, counter, value + n)


VARIANT_LIFT = 1.4  # the first rung's chance on a reordered variant ladder, times this
# A step whose title a variant changed is taken this much more often: the demo's rung-metric
# test (solo-ad's opt-in promise) has a clear difference to find.
COPY_LIFT = 1.8


@dataclass(frozen=True)
class Plan:
    """How the synthetic crowd behaves."""

    origin: str
    spec: FunnelSpec
    chances: dict[str, float]  # by step key; missing keys use `default_chance`
    default_chance: float = DEFAULT_CHANCE
    bot_share: float = BOT_SHARE
    declines: float = 0.0  # of the crowd: a card the test provider declines later charges on

    def chance(self, step_key: str) -> float:
        return self.chances.get(step_key, self.default_chance)


def benchmark_chances(spec: FunnelSpec) -> dict[str, float]:
    """A step's chance of going on is the middle of the next step's benchmark, when given."""
    chances = {}
    for step, following in zip(spec.steps, spec.steps[1:], strict=False):
        benchmark = spec.benchmarks.get(following.key)
        if benchmark:
            chances[step.key] = (benchmark.low + benchmark.high) / 200
    return chances


class Visitor:
    def __init__(self, plan: Plan, number: int, rng: random.Random, stats: Stats, shared: list):
        self.plan, self.number, self.rng, self.stats, self.shared = plan, number, rng, stats, shared
        self.bot = rng.random() < plan.bot_share
        agent = BOT_AGENT if self.bot else rng.choice(USER_AGENTS)
        address = ".".join(str(rng.randint(1, 223)) for _ in range(4))
        self.browser = Browser(plan.origin, agent, address, stats)
        name = f"sim{number}.{rng.randint(1000, 9999)}"
        # drawn only when asked for, so a crowd without declines walks as it always has
        declined = plan.declines and rng.random() < plan.declines
        self.email = f"{name}{'+decline' if declined else ''}@example.test"
        self.gave_email = self.has_shared = False

    def walk(self) -> str | None:
        """Walk the ladder; returns the visitor's cookie id, to spread its history in time."""
        response = self.browser.get(*self._entry())
        # A visitor the server put on an experiment variant's ladder that starts elsewhere
        # (seed 003's assessment early) takes its first rung more often: the demo's experiment
        # has a real difference to find.
        first = self._step_of(response)
        lift = VARIANT_LIFT if first and first != self.plan.spec.steps[0].key else 1.0
        for _ in range(len(self.plan.spec.steps) * 2):
            step_key = self._step_of(response)
            if step_key is None or response.status != 200:
                break
            self.stats.add("reached", step_key)
            self._keep_share_link(response)
            chance = self.plan.chance(step_key) * (lift if step_key == first else 1.0)
            chance = min(1.0, chance * (COPY_LIFT if self._reworded(response, step_key) else 1))
            if self.rng.random() >= chance:
                break
            after = self._act(response, step_key)
            if after is not None and ("end=1" in after.url or self._done(after, step_key)):
                self.stats.add("went_on", step_key)  # the last step of the ladder is done
            if after is None or self._step_of(after) == step_key:
                break
            self.stats.add("went_on", step_key)
            if after.status == 404:
                self.stats.add("reached", self._step_of(after) or "?")
                self.stats.add("stopped_unserved", self._step_of(after) or "?")
                break
            response = after
        self.stats.add("bots" if self.bot else "finished")
        return self.browser.visitor_id()

    def _done(self, after: Response, step_key: str) -> bool:
        """Still on the step, with nothing left to do there: registered, booked or paid."""
        return (self._step_of(after) == step_key and after.status == 200
                and not read_page(after.html).forms)  # fmt: skip

    def _entry(self) -> tuple[str, str]:
        source, medium, campaign, referrer, _ = self.rng.choices(
            SOURCES, weights=[s[-1] for s in SOURCES]
        )[0]
        query = {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}
        with self.stats.lock:
            shared = list(self.shared)
        if shared and self.rng.random() < 0.15:
            self.stats.add("sources", "referral")
            return self.rng.choice(shared), ""
        self.stats.add("sources", source or "direct")
        path = f"/f/{self.plan.spec.funnel}/"
        return (f"{path}?{urlencode(query)}" if source else path), referrer

    def _reworded(self, response: Response, step_key: str) -> bool:
        """The page shows a title an experiment's variant gave this step."""
        titles = [change.title for x in self.plan.spec.experiments for v in x.variants
                  if (change := v.steps.get(step_key)) and change.title]  # fmt: skip
        return any(escape(t) in response.html for t in titles)

    def _step_of(self, response: Response) -> str | None:
        parts = urlsplit(response.url).path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "f" and parts[1] == self.plan.spec.funnel:
            return parts[2]
        if len(parts) == 2 and parts[0] == "f":
            return self.plan.spec.steps[0].key
        return None

    def _keep_share_link(self, response: Response) -> None:
        """Later visitors may arrive through links earlier ones were given to share."""
        link = next((v for v in read_page(response.html).readonly if "?r=" in v), None)
        if link:  # its path only: with YESLADDER_BASE_URL the link names the public host
            parts = urlsplit(link)
            with self.stats.lock:
                self.shared.append(f"{parts.path}?{parts.query}")

    def _act(self, response: Response, step_key: str) -> Response | None:
        """Do what the page asks, form by form, until the visitor is on another step. A page
        off the ladder with forms (the payment provider's) is part of the step; a step done
        without a form to go on (a booked call, a paid order) offers a link to the next one."""
        for acted in range(MAX_ACTIONS_PER_STEP):
            page = read_page(response.html)
            form = self._choose(page)
            if form is None:
                return self._continue(page, response, step_key) if acted else None
            self._extras(page, response)
            try:
                response = self.browser.post(form.action or response.url, self._fill(form))
            except OffSite:
                response = self.browser.get(response.url)
            here = self._step_of(response)
            paying = here is None and response.status == 200 and read_page(response.html).forms
            if (here != step_key and not paying) or response.status != 200:
                return response
        return None

    def _continue(self, page: PageReader, response: Response, step_key: str) -> Response:
        """The next step's link, followed; without one (the last step) the step is done here."""
        prefix = f"/f/{self.plan.spec.funnel}/"
        for link in page.links:
            path = urlsplit(link).path
            if path.startswith(prefix) and path.strip("/").split("/")[-1] != step_key:
                return self.browser.get(link, response.url)
        return response

    def _choose(self, page: PageReader) -> Form | None:
        by_purpose = {f.purpose: f for f in page.forms}
        for purpose in ("answer", "unlock"):
            if purpose in by_purpose:
                return by_purpose[purpose]
        if by_purpose.get("email") and self.rng.random() < 0.3 and not self.gave_email:
            return by_purpose["email"]
        if "share" in by_purpose and not self.has_shared:
            self.has_shared = True
            if self.rng.random() < 0.7:
                return by_purpose["share"]
        forms = [f for f in page.forms if f.purpose not in ("email", "share")]
        paying = [f for f in forms if ("action", "pay") in f.buttons]
        if paying and self.rng.random() < PAYS:  # the test provider's page: pay or decline
            return paying[0]
        return forms[-1] if forms else None

    def _fill(self, form: Form) -> dict:
        data = dict(form.fields)
        for name, kind in form.inputs:
            low_high = form.bounds.get(name)
            data[name] = str(self.rng.randint(*low_high)) if low_high else self._value(name, kind)
        for name, options in form.selects.items():
            if options:
                data[name] = self.rng.choice(options)
        named = [b for b in form.buttons if b[0]]
        if form.purpose == "share":
            data["channel"] = "copy"
        elif named:
            name, value = self.rng.choice(named)
            data[name] = value
        return data

    def _value(self, name: str, kind: str) -> str:
        if name == "email" or kind == "email":
            self.gave_email = True
            self.stats.add("leads")
            return self.email
        if "company" in name:
            return self.rng.choice(COMPANIES)
        if "name" in name:
            return self.rng.choice(FIRST_NAMES)
        if kind in ("tel", "number"):
            return str(self.rng.randint(1, 500))
        if kind == "url":
            return f"https://{self.rng.choice(COMPANIES).lower()}.example"
        return self.rng.choice(["Growth", "Sales", "Operations", "Marketing"])

    def _extras(self, page: PageReader, response: Response) -> None:
        """What a person does besides the main button: downloads, reading, watching."""
        for link in page.links:
            if link.startswith("/d/") and self.rng.random() < 0.8:
                self.stats.add("downloads")
                with contextlib.suppress(OffSite):  # an asset hosted elsewhere is not fetched
                    self.browser.get(link, response.url)
        if 'data-milestones="' in response.html:
            marks = re.search(r'data-milestones="([\d,]+)"', response.html).group(1).split(",")
            watched = self.rng.randint(0, len(marks))
            for mark in marks[:watched]:
                self._beacon(page, response, {"action": "video", "value": mark})
        if "data-read-tracking" in response.html:
            for mark in (25, 50, 75, 100)[: self.rng.randint(1, 4)]:
                self._beacon(page, response, {"action": "read", "value": f"scroll:{mark}"})

    def _beacon(self, page: PageReader, response: Response, data: dict) -> None:
        token = next((f.fields.get("csrfmiddlewaretoken") for f in page.forms), None)
        if token:
            self.browser.post(response.url, {"csrfmiddlewaretoken": token, **data})


def buyer_cancels(origin: str, link: str) -> bool:
    """A buyer opens the Cancel link their order's emails carry and presses its one button,
    as a person would: the page asks first, the POST cancels."""
    browser = Browser(origin, USER_AGENTS[0], "192.0.2.31", Stats())
    page = browser.get(link)
    form = next(iter(read_page(page.html).forms), None)
    if page.status != 200 or form is None:  # already cancelled, or nothing left to stop
        return False
    return browser.post(form.action or page.url, dict(form.fields)).status == 200


def spread_starts(count: int, days: float, rng: random.Random, now: float) -> list[float]:
    """Start times over the last `days`, oldest first, as seconds since the epoch."""
    return sorted(now - rng.uniform(0, days * 86400) for _ in range(count))


def crowd_progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console, transient=False,
    )  # fmt: skip
