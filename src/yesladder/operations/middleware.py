"""Counting every request for /metrics: by route group (the app whose URLs answered it:
steps, tracking, dashboard, admin ...; static files; unmatched) and status, with its time."""

import time

from django.conf import settings

from yesladder import metrics


def request_metrics(get_response):
    static = "/" + settings.STATIC_URL.lstrip("/")

    def middleware(request):
        started = time.perf_counter()
        response = get_response(request)
        route = _route(request, static)
        metrics.LATENCY.labels(route).observe(time.perf_counter() - started)
        metrics.REQUESTS.labels(route, str(response.status_code)).inc()
        return response

    return middleware


def _route(request, static: str) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None:
        return match.namespaces[0] if match.namespaces else "other"
    return "static" if request.path.startswith(static) else "unmatched"
