"""CORS preflight for the tracking API, answered before anything else runs.

The snippet sends text/plain (no preflight); other browser code that sends JSON asks first.
The answer names the origin only when some site lists it; the request itself is then checked
against the origins of its own write key's site (tracking.api).
"""

import re
import time

from django.http import HttpResponse

from yesladder.tracking.models import Site

ORIGINS_CACHE_SECONDS = 5.0
_origins: tuple[float, frozenset[str]] = (0.0, frozenset())


def tracking_preflight(get_response):
    def middleware(request):
        if request.method == "OPTIONS" and request.path.startswith("/v1/"):
            headers = request.headers
            return preflight(headers.get("Origin", ""),
                             headers.get("Access-Control-Request-Headers", ""))  # fmt: skip
        return get_response(request)

    return middleware


# Libraries add headers of their own (RudderStack's: AnonymousId, SentAt, Rsa-Retry-Attempt,
# ...); refusing one fails the request as a network error, which they retry without end. The
# headers asked for are allowed when they are plain header names: no credentials are allowed.
HEADER_NAMES = re.compile(r"[A-Za-z0-9-]{1,64}(\s*,\s*[A-Za-z0-9-]{1,64}){0,19}")
OUR_HEADERS = "Content-Type, Authorization, Content-Encoding"


def preflight(origin: str, asked: str = "") -> HttpResponse:
    response = HttpResponse(status=204)
    response["Vary"] = "Origin"
    if is_known_origin(origin):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST"
        asked = asked.strip()
        response["Access-Control-Allow-Headers"] = (
            f"{OUR_HEADERS}, {asked}" if HEADER_NAMES.fullmatch(asked) else OUR_HEADERS
        )
        response["Access-Control-Max-Age"] = "600"
    return response


def is_known_origin(origin: str) -> bool:
    """Whether some site lists this browser origin."""
    return bool(origin) and origin.rstrip("/").lower() in _known_origins()


def _known_origins() -> frozenset[str]:
    global _origins
    if time.monotonic() - _origins[0] > ORIGINS_CACHE_SECONDS:
        every = Site.objects.values_list("origins", flat=True)
        known = {origin for origins in every for origin in origins}  # stored normalised
        _origins = (time.monotonic(), frozenset(known))
    return _origins[1]
