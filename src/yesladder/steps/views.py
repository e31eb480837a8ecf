"""The visitor's pages: parse the request, call the step kind, render. No logic lives here."""

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods
from pydantic import BaseModel

from yesladder.database import only_row, write_together
from yesladder.events import EventName
from yesladder.experiments import preview as previews
from yesladder.funnels import editing
from yesladder.funnels.models import FunnelVersion, UnknownFunnel
from yesladder.leads import emails
from yesladder.leads import services as leads
from yesladder.leads.limits import client_address, guesses_limited
from yesladder.leads.models import Lead, Visitor
from yesladder.leads.services import new_visitor
from yesladder.steps.kinds import KINDS
from yesladder.steps.kinds.base import DOWNLOAD_SALT, move_on
from yesladder.tracking.journeys import Page, journey_for, page_for
from yesladder.tracking.models import Journey
from yesladder.tracking.services import reacting_together, record

T = TypeVar("T")
VISITOR_COOKIE = "yl_vid"
VISITOR_COOKIE_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def _visitor(request: HttpRequest) -> Visitor:
    try:
        visitor = only_row(Visitor, id=uuid.UUID(request.COOKIES.get(VISITOR_COOKIE, "")))
    except ValueError:
        visitor = None
    return visitor or new_visitor(
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        landing_url=request.build_absolute_uri(),
        referrer=request.META.get("HTTP_REFERER", ""),
        query=request.GET,
    )


def _remember(response: HttpResponse, visitor: Visitor) -> HttpResponse:
    response.set_cookie(
        VISITOR_COOKIE, str(visitor.pk), max_age=VISITOR_COOKIE_AGE, httponly=True,
        samesite="Lax", secure=settings.HTTPS,
    )  # fmt: skip
    return response


class StepRedirect(HttpResponseRedirect):
    """Where a step sends the visitor next: our own pages, or a share intent (mailto: too).
    Step kinds build these from fixed templates, never from a URL the visitor sent."""

    allowed_schemes = ["http", "https", "mailto"]


def _referral(request: HttpRequest) -> tuple[str, str]:
    """The share code a visitor arrived with, and the address it came from."""
    code = request.GET.get("r", "")[:16]
    return (code, client_address(request)) if code else ("", "")


@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, funnel: str) -> HttpResponse:
    """The first step, or, for a visitor who came back, the step they stopped at. The first
    step's forms post here too, since this is the address its page was served from."""

    def writes() -> tuple[Visitor, HttpResponse | Show]:
        visitor = _visitor(request)
        journey = _journey(request, visitor, funnel)
        first = journey.version.spec.steps[0].key
        if request.method == "GET" and journey.current_step != first:
            return visitor, redirect("steps:step", funnel, journey.current_step)
        return visitor, _step_page(request, page_for(journey, first))

    visitor, answer = _written(writes)
    return _remember(_respond(request, answer), visitor)


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, funnel: str, step: str) -> HttpResponse:
    def writes() -> tuple[Visitor, HttpResponse | Show]:
        visitor = _visitor(request)
        page = page_for(_journey(request, visitor, funnel), step)
        return visitor, _step_page(request, page)

    visitor, answer = _written(writes)
    return _remember(_respond(request, answer), visitor)


def _journey(request: HttpRequest, visitor: Visitor, funnel: str) -> Journey:
    try:
        return journey_for(visitor, funnel, *_referral(request))
    except UnknownFunnel:
        raise Http404("No such funnel.") from None


def _written(writes: Callable[[], T]) -> T:
    """Everything a page's request changes, in one transaction (on SQLite written together
    with the other requests of this process waiting for the writer: a group commit),
    committed before the page answers. The parts that react to events hear all the request's
    events once, at its end (`tracking.services.reacting_together`): the experiment's
    exposure, the step's view and what a form records."""

    def reacting() -> T:
        with reacting_together():
            return writes()

    return write_together(reacting)


@require_GET
def preview(request: HttpRequest, token: str, step: str = "") -> HttpResponse:
    """A staff preview of one step of a variant's ladder (experiments.preview) or of an editor's
    draft (funnels.editing): shown as a visitor would see it on a journey just started,
    counted nowhere: the journey, a draft's version and whatever rendering writes are rolled
    back; its forms post here and are refused."""
    version = previews.version_of(token)
    draft = editing.draft_previewed(token) if version is None else None
    if version is None and draft is None:
        raise Http404("This preview link is not valid or has expired.")
    with transaction.atomic():  # a journey just started, for the step's context to read
        version = version or editing.draft_as_version(draft)
        if version is None:
            raise Http404("This draft has errors; fix them to preview it.")
        spec = version.spec
        shown = next((s for s in spec.steps if s.key == (step or spec.steps[0].key)), None)
        if shown is None:
            raise Http404("No such step in this ladder.")
        journey = Journey.objects.create(visitor=Visitor.objects.create(), funnel=version.funnel,
                                         version=version, current_step=shown.key)  # fmt: skip
        page = Page(journey, version, spec, shown)
        response = _respond(request, Show(page, f"yesladder/steps/{shown.kind}.html"))
        transaction.set_rollback(True)
    response["Cache-Control"] = "private, no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@dataclass(frozen=True)
class Show:
    """A step page to render once the request's writes are committed: rendering (reads and a
    template) then runs without holding the database's write lock."""

    page: Page
    template: str
    errors: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    status: int = 200


def _step_page(request: HttpRequest, page: Page) -> HttpResponse | Show:
    kind = KINDS[page.step.kind]
    template = f"yesladder/steps/{page.step.kind}.html"
    if request.method == "POST":
        result = kind.submit(request, page)
        if result.beacon:
            return HttpResponse(status=204)
        if result.redirect:
            return StepRedirect(result.redirect)
        status = result.status if result.status != 200 else 400
        return Show(page, template, result.errors, result.values, status)
    if kind.skips and kind.skips(page):
        return redirect(move_on(page).redirect)
    if not request.GET.get("end"):
        page.event(EventName.STEP_VIEWED)
    return Show(page, template)


def _respond(request: HttpRequest, answer: HttpResponse | Show) -> HttpResponse:
    if isinstance(answer, HttpResponse):
        return answer
    page, kind = answer.page, KINDS[answer.page.step.kind]
    context = {
        "page": page,
        "step": page.step,
        "spec": page.spec,
        "errors": answer.errors,
        "values": answer.values,
        "ended": bool(request.GET.get("end")),
        **kind.context(request, page),
    }
    key = _rendered_key(answer, context) if request.method == "GET" else None
    if key is None:
        return render(request, answer.template, context, status=answer.status)
    html = _rendered.get(key)
    if not html:
        html = render_to_string(answer.template, {**context, "csrf_token": CSRF_MARK}, request)
        _keep_rendered(key, html)
    if CSRF_MARK in html:
        html = html.replace(CSRF_MARK, get_token(request))
    return HttpResponse(html, status=answer.status)


# Pages rendered once per process for every visitor they look the same to, with a mark where
# the visitor's own CSRF token goes (Django's `{% csrf_token %}` takes it from the context).
_rendered: dict[tuple, str] = {}
_rendered_lock = threading.Lock()
RENDERED_PAGES = 1024
CSRF_MARK = "\x00csrf\x00"


def _keep_rendered(key: tuple, html: str) -> None:
    """A page is kept the second time it is rendered: one shown to a single visitor (their
    own download link) would only push the shared ones out."""
    with _rendered_lock:
        _rendered[key] = html if key in _rendered else ""
        if len(_rendered) > RENDERED_PAGES:
            del _rendered[next(iter(_rendered))]  # the oldest


def _rendered_key(answer: Show, context: dict) -> tuple | None:
    """What decides a step page's HTML, when all of it is known: its version and step, the
    steps the journey has done (the progress bar), and the kind's context, made of text,
    numbers and the spec's own keyed parts (a version's spec never changes). None when
    something else is in it (a visitor's link, a tally, a form's errors): rendered each time."""
    if answer.errors or answer.values:
        return None
    page = answer.page
    parts = []
    for name in sorted(context):
        if name in ("page", "step", "spec", "errors", "values"):
            continue
        part = _frozen(context[name])
        if part is _UNKNOWN:
            return None
        parts.append((name, part))
    done = tuple(page.journey.done)
    return (answer.template, page.version.pk, page.step.key, done, answer.status, *parts)


_UNKNOWN = object()


def _frozen(value):
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return (type(value).__name__, value)  # a SafeString is not the same as a str
    if isinstance(value, list | tuple):
        items = tuple(_frozen(v) for v in value)
        return _UNKNOWN if _UNKNOWN in items else items
    key = getattr(value, "key", None)
    if isinstance(value, BaseModel) and isinstance(key, str):
        return (type(value).__name__, key)  # a part of the version's spec, by its key
    return _UNKNOWN


def _token_journey(claim: dict) -> Journey | None:
    """The journey a signed link was made for (links name it, never the visitor's cookie)."""
    return Journey.objects.select_related("visitor").filter(pk=claim.get("j")).first()


@require_GET
@guesses_limited
def download(request: HttpRequest, token: str) -> HttpResponse:
    """A lead magnet behind a signed link that expires."""
    try:
        claim = signing.loads(token, salt=DOWNLOAD_SALT, max_age=None)
        version = FunnelVersion.objects.get(pk=claim["v"])
    except (signing.BadSignature, FunnelVersion.DoesNotExist, KeyError, TypeError):
        raise Http404("This download link is not valid.") from None
    magnet = version.spec.step(claim["s"])
    if magnet is None or magnet.kind != "magnet":
        raise Http404("This download link is not valid.")
    try:
        signing.loads(token, salt=DOWNLOAD_SALT, max_age=magnet.asset.expires)
    except signing.SignatureExpired:
        return render(request, "yesladder/steps/expired.html", {"step": magnet}, status=410)
    journey = _token_journey(claim)
    if journey:
        record(
            EventName.DOWNLOADED, journey.visitor, version, magnet.key, {"asset": magnet.asset.name}
        )
    if magnet.asset.url:
        return redirect(magnet.asset.url)
    path = (Path(settings.ASSETS_ROOT) / magnet.asset.file).resolve()
    if not path.is_relative_to(Path(settings.ASSETS_ROOT).resolve()) or not path.is_file():
        raise Http404("This file is no longer available.")
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


@require_GET
def asset(request: HttpRequest, name: str) -> HttpResponse:
    """Files a funnel serves openly (a video), stored under their SHA-256 when loaded."""
    root = Path(settings.ASSETS_ROOT).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise Http404("No such file.")
    return FileResponse(path.open("rb"))


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Double opt-in. A GET only shows the button: mail scanners open every link in an email,
    and a scanner's visit must not count as the person's yes."""
    claim = emails.read_confirm_token(token)
    lead = Lead.objects.filter(pk=claim["l"], email=claim["e"]).first() if claim else None
    if lead is None:
        return render(request, "yesladder/steps/confirm.html", {"invalid": True}, status=410)
    version = FunnelVersion.objects.filter(pk=claim["v"]).select_related("funnel").first()
    context = {"lead": lead, "funnel": version.funnel if version else None, "token": token}
    if request.method == "POST" and leads.confirm(lead, client_address(request) or None):
        journey = _token_journey(claim)
        visitor = journey.visitor if journey else lead.visitors.first()
        if visitor:
            record(EventName.OPTIN_CONFIRMED, visitor, version, claim["s"])
    context["confirmed"] = lead.confirmed_at is not None and request.method == "POST"
    return render(request, "yesladder/steps/confirm.html", context)
