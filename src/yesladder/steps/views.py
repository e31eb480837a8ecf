"""The visitor's pages: parse the request, call the step kind, render. No logic lives here."""

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion
from yesladder.leads import emails
from yesladder.leads import services as leads
from yesladder.leads.limits import client_address, guesses_limited
from yesladder.leads.models import Lead, Visitor
from yesladder.leads.services import new_visitor
from yesladder.steps import kinds, time_and_money
from yesladder.steps.kinds import DOWNLOAD_SALT, move_on
from yesladder.tracking.journeys import Page, journey_for, page_for
from yesladder.tracking.models import Journey
from yesladder.tracking.services import record

KINDS = {**kinds.KINDS, **time_and_money.KINDS}
VISITOR_COOKIE = "yl_vid"
VISITOR_COOKIE_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie


def _visitor(request: HttpRequest) -> Visitor:
    try:
        visitor = Visitor.objects.filter(
            pk=uuid.UUID(request.COOKIES.get(VISITOR_COOKIE, ""))
        ).first()
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
    with transaction.atomic():
        visitor = _visitor(request)
        journey = journey_for(visitor, funnel, *_referral(request))
        first = journey.version.spec.steps[0].key
        if request.method == "GET" and journey.current_step != first:
            return _remember(redirect("steps:step", funnel, journey.current_step), visitor)
        answer = _step_page(request, page_for(journey, first))
    return _remember(_respond(request, answer), visitor)


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, funnel: str, step: str) -> HttpResponse:
    with transaction.atomic():
        visitor = _visitor(request)
        page = page_for(journey_for(visitor, funnel, *_referral(request)), step)
        answer = _step_page(request, page)
    return _remember(_respond(request, answer), visitor)


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
    """Everything a step's request changes, in the caller's one transaction."""
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
    return render(request, answer.template, context, status=answer.status)


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
