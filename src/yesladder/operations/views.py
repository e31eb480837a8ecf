"""/healthz, /readyz and /metrics: plain JSON and Prometheus text, nothing secret in either."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from yesladder.operations import health, prometheus


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers; no database (a load balancer's liveness probe)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    ready, body = health.readiness()
    return JsonResponse(body, status=200 if ready else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        return HttpResponse("Metrics are off: set YESLADDER_METRICS_TOKEN.\n", status=404,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip().encode() if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(given, settings.METRICS_TOKEN.encode()):
        response = HttpResponse("Unauthorized\n", status=401,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(prometheus.scrape(),
                        content_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip
