"""CORS preflight for the tracking API, answered before anything else runs.

The snippet sends text/plain (no preflight); other browser code that sends JSON asks first.
The answer names the origin only when some site lists it; the request itself is then checked
against the origins of its own write key's site (tracking.api).
"""

import time

from django.http import HttpResponse

from yesladder.tracking.models import Site

ORIGINS_CACHE_SECONDS = 5.0
_origins: tuple[float, frozenset[str]] = (0.0, frozenset())


def tracking_preflight(get_response):
    def middleware(request):
        if request.method == "OPTIONS" and request.path.startswith("/v1/"):
            return preflight(request.headers.get("Origin", ""))
        return get_response(request)

    return middleware


def preflight(origin: str) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Vary"] = "Origin"
    if origin and origin.rstrip("/").lower() in _known_origins():
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST"
        response["Access-Control-Allow-Headers"] = "Content-Type, Authorization, Content-Encoding"
        response["Access-Control-Max-Age"] = "600"
    return response


def _known_origins() -> frozenset[str]:
    global _origins
    if time.monotonic() - _origins[0] > ORIGINS_CACHE_SECONDS:
        every = Site.objects.values_list("origins", flat=True)
        known = {origin for origins in every for origin in origins}  # stored normalised
        _origins = (time.monotonic(), frozenset(known))
    return _origins[1]
