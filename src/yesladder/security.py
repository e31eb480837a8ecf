"""A Content-Security-Policy on every HTML page (threat 7: tracked data rendered as stored XSS).

Escaping is the first defence; the policy is the second. If a hostile value ever reached a page
unescaped, no script it brings can run: scripts come only from our own static files.

A view that sets its own policy keeps it (`setdefault`): the dashboard's, which allows no
script at all, wins on its pages. JSON, files and static assets get nothing: for them the
middleware reads one header and returns.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from yesladder.steps.kinds.sharing import SHARE_CHANNELS

HEADER = "Content-Security-Policy"

# Stripe Checkout's hosted page: an offer's form posts to the step, which redirects to our
# /pay/ link and on to Stripe. Browsers check form-action on every hop of that redirect chain.
CHECKOUT_ORIGINS = ("https://checkout.stripe.com",)

# A share service may send the visitor on to another of its own hosts before the chain ends,
# and form-action covers those hops too: wa.me hands over to api.whatsapp.com, and Facebook
# may send a phone to m.facebook.com. A hop to a host not listed is refused by the browser,
# which says so on its console: add the host here.
SHARE_ONWARD_ORIGINS = ("https://api.whatsapp.com", "https://m.facebook.com")


def share_origins() -> tuple[str, ...]:
    """Where the share step's buttons go: its POST answers with a redirect to the service."""
    return tuple(dict.fromkeys(_origin(base) for _, base, _ in SHARE_CHANNELS.values()))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else f"{parts.scheme}:"


def policy(**directives: str) -> str:
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


# Script, styles and requests from this site only, nothing inline, never framed.
EVERY_PAGE = {
    "default_src": "'none'", "script_src": "'self'", "style_src": "'self'",
    "connect_src": "'self'", "frame_ancestors": "'none'", "base_uri": "'none'",
    "object_src": "'none'",
}  # fmt: skip


def page_policy() -> str:
    """The visitor's pages: our own script and stylesheet, nothing inline, nothing framed.

    - A video step plays `<video src>` (poster and captions too) from our assets or from any
      http(s) URL its spec names, and Markdown in a spec may show images from any http(s)
      URL; neither can run script. No step kind embeds an iframe (YouTube, Vimeo), so
      frame-src falls back to 'none'.
    - connect-src 'self': steps.js reports reading and watching to the page's own URL.
    - No page is meant to be embedded (X-Frame-Options is DENY too).
    """
    targets = ("'self'", *share_origins(), *SHARE_ONWARD_ORIGINS, *CHECKOUT_ORIGINS)
    return policy(
        **EVERY_PAGE,
        img_src="'self' data: https: http:",
        media_src="'self' https: http:",
        form_action=" ".join(targets),
    )


# Django's admin and the API's docs page (Swagger UI), where staff read what strangers sent:
# external scripts only (their JSON data blocks are not script), and no inline styles either:
# both set styles through the DOM (CSSOM), which a policy does not restrict. Django's one inline
# <style> (a changelist with its actions hidden) shows on none of our models, and without it
# a column only loses its width. Images stay on this site (Swagger UI's stylesheet draws a few
# as data: URIs), and so do forms.
TOOL_POLICY = policy(**EVERY_PAGE, img_src="'self' data:", form_action="'self'")

TOOL_NAMESPACES = frozenset({"admin", "tracking"})  # the tracking API's only HTML is its docs


def content_security_policy(get_response):
    pages = page_policy()

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if response.get("Content-Type", "").startswith("text/html") and not _debug_page(response):
            response.headers.setdefault(HEADER, _policy_for(request, pages))
        return response

    return middleware


def _debug_page(response: HttpResponse) -> bool:
    """With YESLADDER_DEBUG on, Django's technical 404 and 500 pages style themselves and
    run script inline; a developer's traceback should stay readable."""
    return settings.DEBUG and response.status_code in (404, 500)


def _policy_for(request: HttpRequest, pages: str) -> str:
    match = getattr(request, "resolver_match", None)
    return TOOL_POLICY if match and match.namespace in TOOL_NAMESPACES else pages


# What a TLS proxy adds about the visitor. From anyone else they are whatever the client chose
# to send: a client that reaches the server directly must not pick its own address (rate
# limits, consent records) or claim https.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST")


def trusted_proxy_headers(get_response):
    networks = settings.TRUSTED_PROXY_ADDRESSES

    def middleware(request: HttpRequest) -> HttpResponse:
        if not _from(request.META.get("REMOTE_ADDR", ""), networks):
            for header in PROXY_HEADERS:
                request.META.pop(header, None)
        return get_response(request)

    return middleware


def _from(address: str, networks) -> bool:
    try:
        peer = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(peer in network for network in networks)
