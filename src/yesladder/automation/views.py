"""The endpoints behind the links in follow-up emails, and the providers' bounce webhooks.

Every token in a link is a 128-bit random value found by a database lookup; an unknown one
leads nowhere and writes nothing (but counts against the address that tried it).
"""

import logging

import anymail.urls
from anymail.exceptions import (
    AnymailConfigurationError,
    AnymailError,
    AnymailWebhookValidationFailure,
)
from anymail.utils import get_request_basic_auth
from django.conf import settings
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from yesladder.automation import bounces
from yesladder.automation.models import Link, Message, Suppression
from yesladder.leads.limits import guesses_limited

logger = logging.getLogger(__name__)

# --- unsubscribe (RFC 8058) --------------------------------------------------------------------


@csrf_exempt  # the one-click POST comes from the mail provider, without cookies or a form token
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
@guesses_limited
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing: link scanners open every link in an email
    (threat 10). Any POST unsubscribes: the provider's `List-Unsubscribe=One-Click` body or the
    page's own button."""
    message = Message.objects.filter(token=token).first()
    if message is None:
        return render(
            request, "yesladder/automation/unsubscribe.html", {"invalid": True}, status=404
        )
    if request.method == "POST":
        bounces.suppress(message.to, Suppression.Reason.UNSUBSCRIBED, message.template)
        return render(request, "yesladder/automation/unsubscribed.html", {"email": message.to})
    context = {"email": message.to, "already": Suppression.covers(message.to)}
    return render(request, "yesladder/automation/unsubscribe.html", context)


# --- clicks and opens --------------------------------------------------------------------------


@never_cache
@require_safe
@guesses_limited
def click(request: HttpRequest, token: str) -> HttpResponse:
    """To the URL stored when the email was sent, and nowhere else (threat 26)."""
    link = Link.objects.filter(token=token).first()
    if link is None:
        raise Http404("This link is not valid.")
    if request.method == "GET":  # a HEAD is a scanner checking the link, not a click
        _count_click(link)
    response = redirect(link.url)
    response["Referrer-Policy"] = "no-referrer"  # the token stays ours
    return response


def _count_click(link: Link) -> None:
    now = timezone.now()
    Link.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1)
    Link.objects.filter(pk=link.pk, first_clicked_at=None).update(first_clicked_at=now)
    Message.objects.filter(pk=link.message_id, clicked_at=None).update(clicked_at=now)


# The smallest transparent GIF: 1x1, one transparent colour.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


@require_safe
def pixel(request: HttpRequest, token: str) -> HttpResponse:
    """The open pixel. The same image for any token, so it tells nobody which tokens exist."""
    if request.method == "GET":
        Message.objects.filter(pixel_token=token, opened_at=None).update(opened_at=timezone.now())
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"  # every open asks again, or only the first counts
    return response


# --- provider webhooks -------------------------------------------------------------------------

TRACKING_VIEWS = {
    pattern.name.removesuffix("_tracking_webhook"): pattern.callback.view_class
    for pattern in anymail.urls.urlpatterns
    if pattern.name.endswith("_tracking_webhook")
}


@csrf_exempt  # the provider authenticates with the shared secret instead
def provider_webhook(request: HttpRequest, esp: str) -> HttpResponse:
    """A provider's delivery events through django-anymail's view for it. Refused unless the
    request carries `YESLADDER_BOUNCE_WEBHOOK_SECRET` as its Basic auth (threat 16): with no
    secret set, the webhooks are off rather than open to anyone."""
    view_class = TRACKING_VIEWS.get(esp)
    if view_class is None:
        raise Http404("No such email provider.")
    secret = settings.BOUNCE_WEBHOOK_SECRET
    if not secret:
        return _plain("Bounce webhooks are off: set YESLADDER_BOUNCE_WEBHOOK_SECRET.", 403)
    if not constant_time_compare(get_request_basic_auth(request) or "", secret):
        response = _plain("Give the webhook secret as the URL's user:password.", 401)
        response["WWW-Authenticate"] = 'Basic realm="yesladder bounces"'
        return response
    return _run_anymail(view_class, request, secret)


def _run_anymail(view_class, request: HttpRequest, secret: str) -> HttpResponse:
    """Anymail's view validates the provider's own signature where it has one, parses the
    payload and sends the `tracking` signal that `bounces.on_tracking` receives."""
    try:
        view = view_class(webhook_secret=[secret])
        view.setup(request)
        return view.dispatch(request)
    except AnymailWebhookValidationFailure as exc:
        logger.warning("refused email provider webhook at %s: %s", request.path, exc)
        return _plain("Refused: the provider's signature does not verify.", 403)
    except AnymailConfigurationError as exc:  # e.g. a provider's signing key not set
        logger.error("email provider webhook %s is not configured: %s", request.path, exc)
        return _plain("This provider's webhook is not configured.", 503)
    except (AnymailError, ValueError, KeyError, TypeError) as exc:
        logger.warning("unreadable email provider webhook at %s: %r", request.path, exc)
        return _plain("Unreadable payload.", 400)


def _plain(text: str, status: int) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
