"""The visitor's pages: parse the request, call the step kind, render. No logic lives here."""

import uuid
from pathlib import Path

from django.conf import settings
from django.core import signing
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from yesladder.funnels.models import FunnelVersion
from yesladder.leads import services as leads
from yesladder.leads.models import Lead, Visitor
from yesladder.leads.services import new_visitor
from yesladder.steps import emails
from yesladder.steps.flow import Page, journey_for, page_for
from yesladder.steps.kinds import DOWNLOAD_SALT, KINDS, move_on
from yesladder.tracking.events import EventName
from yesladder.tracking.limits import client_address
from yesladder.tracking.services import record

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


def _referral(request: HttpRequest) -> str:
    return request.GET.get("r", "")[:16]


@require_http_methods(["GET", "POST"])
def entry(request: HttpRequest, funnel: str) -> HttpResponse:
    """The first step, or, for a visitor who came back, the step they stopped at. The first
    step's forms post here too, since this is the address its page was served from."""
    visitor = _visitor(request)
    journey = journey_for(visitor, funnel, _referral(request))
    first = journey.version.spec.steps[0].key
    if request.method == "GET" and journey.current_step != first:
        return _remember(redirect("steps:step", funnel, journey.current_step), visitor)
    return _step_page(request, visitor, page_for(journey, first))


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, funnel: str, step: str) -> HttpResponse:
    visitor = _visitor(request)
    page = page_for(journey_for(visitor, funnel, _referral(request)), step)
    return _step_page(request, visitor, page)


def _step_page(request: HttpRequest, visitor: Visitor, page: Page) -> HttpResponse:
    if page.step.kind not in KINDS:  # events, bookings, offers and checkouts: not served yet
        context = {"page": page, "step": page.step, "spec": page.spec}
        return _remember(
            render(request, "yesladder/steps/unavailable.html", context, status=404), visitor
        )
    if request.method == "POST":
        result = KINDS[page.step.kind].submit(request, page)
        if result.beacon:
            return HttpResponse(status=204)
        if result.redirect:
            return _remember(StepRedirect(result.redirect), visitor)
        status = result.status if result.status != 200 else 400
        return _remember(_show(request, page, result.errors, result.values, status), visitor)
    kind = KINDS[page.step.kind]
    if kind.skips and kind.skips(page):
        return _remember(redirect(move_on(page).redirect), visitor)
    return _remember(_show(request, page), visitor)


def _show(request: HttpRequest, page: Page, errors=None, values=None, status=200) -> HttpResponse:
    if request.method == "GET" and not request.GET.get("end"):
        page.event(EventName.STEP_VIEWED)
    context = {
        "page": page,
        "step": page.step,
        "spec": page.spec,
        "errors": errors or {},
        "values": values or {},
        "ended": bool(request.GET.get("end")),
        **KINDS[page.step.kind].context(request, page),
    }
    return render(request, f"yesladder/steps/{page.step.kind}.html", context, status=status)


@require_GET
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
    visitor = Visitor.objects.filter(pk=claim["vis"]).first()
    if visitor:
        record(EventName.DOWNLOADED, visitor, version, magnet.key, {"asset": magnet.asset.name})
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
        visitor = Visitor.objects.filter(pk=claim["vis"]).first() or lead.visitors.first()
        if visitor:
            record(EventName.OPTIN_CONFIRMED, visitor, version, claim["s"])
    context["confirmed"] = lead.confirmed_at is not None and request.method == "POST"
    return render(request, "yesladder/steps/confirm.html", context)
