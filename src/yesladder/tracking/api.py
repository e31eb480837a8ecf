"""The tracking API: Segment's HTTP tracking API, so Segment's and RudderStack's libraries work
when pointed at yesladder. The views only read the request and answer; `receive` is the flow.

Answers, as the libraries expect them: 200 `{"success": true}` once every accepted message is
committed; 400/401/403/413 with `{"code", "message"}` for what retrying cannot fix; 429 and
503 with Retry-After for what it can (libraries retry those with the same message ids).
"""

import base64
import binascii
import gzip
import logging
import math
import time
import zlib
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import NinjaAPI, Schema

from yesladder import metrics
from yesladder.database import one_thread_writing
from yesladder.leads.limits import client_address
from yesladder.tracking import ingestion, segment
from yesladder.tracking.buckets import Buckets
from yesladder.tracking.journeys import variants_of
from yesladder.tracking.middleware import is_known_origin
from yesladder.tracking.models import Site, WriteKey
from yesladder.tracking.rows import Received, Row, prepare

logger = logging.getLogger(__name__)
KEY_CACHE_SECONDS = 5.0  # a revoked key stops working within this long in every process


class RejectedMessage(Schema):
    index: int
    messageId: str | None
    field: str
    message: str


class Accepted(Schema):
    success: bool
    accepted: int
    rejected: list[RejectedMessage]


class Problem(Schema):
    code: str
    message: str
    field: str | None = None
    rejected: list[RejectedMessage] | None = None


@dataclass
class Refusal(Exception):
    status: int
    code: str
    message: str
    field: str | None = None
    retry_after: float | None = None
    rejected: list[segment.Rejected] | None = None  # every message, when none was accepted

    def response(self) -> JsonResponse:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.rejected is not None:
            body["rejected"] = [r.as_dict() for r in self.rejected]
        response = JsonResponse(body, status=self.status)
        if self.retry_after is not None:
            response["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return response


# --- the flow ----------------------------------------------------------------------------------


def receive(request: HttpRequest, endpoint: str) -> HttpResponse:
    origin = request.headers.get("Origin", "")
    site = None
    try:
        raw = _raw_body(request, endpoint)  # read before the lane: a slow upload waits alone
        with one_thread_writing():
            data = _json(raw)
            site = _site(request, data, origin)
            received, rows, rejected = _sort(request, site, data, endpoint, origin)
        ingestion.store(received, rows)  # with what other threads of this process wait to write
        body = {"success": True, "accepted": len(rows), "rejected": [r.as_dict() for r in rejected]}
        answer = JsonResponse(body | _variants(rows))
        metrics.TRACKED.labels("accepted", "").inc(len(rows))
    except Refusal as refusal:
        answer = refusal.response()
        if not refusal.rejected:  # else counted one by one in _sort
            metrics.TRACKED.labels("refused", refusal.code).inc()
    except DatabaseError:
        logger.exception("tracking API: the database is unavailable; answered 503")
        answer = Refusal(503, "unavailable", "The database is unavailable; retry later.",
                         retry_after=5).response()  # fmt: skip
        metrics.TRACKED.labels("refused", "unavailable").inc()
    # A refusal (a wrong key) is readable by a page of an origin some site lists: a library
    # that cannot read its 401 takes it for a network error and retries it without end.
    if site.allows_origin(origin) if site is not None else is_known_origin(origin):
        answer["Access-Control-Allow-Origin"] = origin
    answer["Vary"] = "Origin"
    return answer


def _variants(rows: list[Row]) -> dict:
    """The experiment variant of each visitor's journey the messages started or used, so the
    site can show the variant's copy (docs/tracking.md); nothing when none is in one."""
    named = variants_of([(r.journey.id, r.journey.version_id) for r in rows if r.journey])
    found = {}
    for row in rows:
        if row.journey and row.journey.id in named:
            experiment, variant = named[row.journey.id]
            who = {"anonymousId": row.message.anonymousId} if row.message.anonymousId else {
                "userId": row.message.userId}  # fmt: skip
            key = (row.message.visitor_key, row.funnel)
            found[key] = {**who, "funnel": row.funnel, "experiment": experiment,
                          "variant": variant}  # fmt: skip
    return {"variants": list(found.values())} if found else {}


def _sort(
    request, site: Site, data: dict, endpoint: str, origin: str
) -> tuple[Received, list[Row], list[segment.Rejected]]:
    """The messages to store, as rows, and the rejected ones; a Refusal if none is left."""
    try:
        parsed = segment.parse(data, endpoint)
    except segment.BadRequest as exc:
        raise Refusal(400, "invalid_request", exc.message, exc.field) from None
    received = Received(
        site=site,
        at=timezone.now(),
        user_agent=request.headers.get("User-Agent", "") if origin else "",
        address=client_address(request) or None,
    )
    rows, rejected = prepare(received, parsed)
    rows, limited = _within_limits(site, rows)
    metrics.TRACKED.labels("refused", "invalid_message").inc(len(rejected))
    metrics.TRACKED.labels("refused", "rate_limited").inc(len(limited))
    rejected = sorted(rejected + limited, key=lambda r: r.index)
    if not rows and rejected:
        status, code = (429, "rate_limited") if limited else (400, "invalid_request")
        raise _nothing_accepted(status, code, rejected)
    return received, rows, rejected


def _nothing_accepted(status: int, code: str, rejected: list[segment.Rejected]) -> Refusal:
    first = rejected[0]
    where = f"message {first.index}: " if len(rejected) > 1 or first.field != "body" else ""
    return Refusal(status, code, f"{where}{first.field}: {first.message}", first.field,
                   retry_after=1 if status == 429 else None, rejected=rejected)  # fmt: skip


# --- reading the request -------------------------------------------------------------------------


def _raw_body(request: HttpRequest, endpoint: str) -> bytes:
    limit = segment.MAX_BATCH_BYTES if endpoint == "batch" else segment.MAX_EVENT_BYTES
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit and not _gzipped(request):
        raise _too_large(int(declared), limit)
    try:
        raw = request.body
    except Exception:  # RequestDataTooBig and friends: larger than anything we take
        raise _too_large(None, limit) from None
    if _gzipped(request):
        raw = _gunzip(raw, limit)
    if len(raw) > limit:
        raise _too_large(len(raw), limit)
    return raw


def _json(raw: bytes):
    try:
        return segment.loads(raw)
    except RecursionError:
        raise Refusal(400, "too_deep", f"The body nests too deep to read; values may nest "
                      f"{segment.MAX_DEPTH} levels at most.", "body") from None  # fmt: skip
    except (ValueError, UnicodeDecodeError) as exc:
        problem = "a number has more than 4,300 digits" if "digits" in str(exc) else str(exc)
        raise Refusal(400, "invalid_json", f"The body is not valid JSON: {problem}",
                      "body") from None  # fmt: skip


def _gzipped(request: HttpRequest) -> bool:
    return request.headers.get("Content-Encoding", "").strip().lower() == "gzip"


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Decompress at most limit + 1 bytes: a small bomb must not become a large body."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        return inflater.decompress(raw, limit + 1)
    except (zlib.error, gzip.BadGzipFile):
        raise Refusal(400, "invalid_body", "Content-Encoding says gzip; the body is not.",
                      "body") from None  # fmt: skip


def _too_large(size: int | None, limit: int) -> Refusal:
    said = f"{size:,} bytes" if size is not None else "too large"
    return Refusal(413, "too_large", f"The body is {said}; the limit here is {limit:,} bytes. "
                   "Send fewer messages per batch.", "body")  # fmt: skip


_keys: dict[str, tuple[float, WriteKey | None]] = {}


def _site(request: HttpRequest, data: dict, origin: str) -> Site:
    key = _basic_user(request) or (data.get("writeKey") if isinstance(data, dict) else None)
    if not isinstance(key, str) or not key:
        raise Refusal(401, "no_write_key", "Send the write key as the HTTP Basic user name "
                      "or as writeKey in the body.", "writeKey")  # fmt: skip
    write_key = _write_key(key[:64])
    if write_key is None:
        raise Refusal(401, "invalid_write_key", "This write key is unknown or revoked; create "
                      "one with `yesladder writekey create SITE`.", "writeKey")  # fmt: skip
    if origin and not write_key.site.allows_origin(origin):
        raise Refusal(403, "origin_not_allowed", f"{origin[:200]} may not send with this "
                      f"site's keys; allow it with `yesladder writekey origins "
                      f"{write_key.site.name} --add {origin[:200]}`.", "Origin")  # fmt: skip
    return write_key.site


def _basic_user(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(token.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _write_key(key: str) -> WriteKey | None:
    cached = _keys.get(key)
    if cached and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
        return cached[1]
    found = WriteKey.objects.select_related("site").filter(key=key, revoked_at__isnull=True).first()
    if len(_keys) > 10_000:  # guessing keys must not grow the cache without end
        _keys.clear()
    _keys[key] = (time.monotonic(), found)
    return found


def forget_write_keys() -> None:
    _keys.clear()


# --- limits ----------------------------------------------------------------------------------


_per_site: Buckets | None = None
_per_visitor: Buckets | None = None


def _within_limits(site: Site, rows: list[Row]):
    """A site's whole stream, then each visitor's (a looping page), within their budgets."""
    global _per_site, _per_visitor
    if _per_site is None or _per_visitor is None:
        _per_site = Buckets(settings.API_EVENTS_PER_SECOND, settings.API_BURST)
        _per_visitor = Buckets(settings.API_VISITOR_EVENTS_PER_SECOND, settings.API_VISITOR_BURST)
    if not rows:
        return rows, []
    wait = _per_site.take(str(site.pk), len(rows))
    if wait:
        raise Refusal(429, "rate_limited", f"This site sends more than "
                      f"{settings.API_EVENTS_PER_SECOND:,} events a second; slow down.",
                      retry_after=wait)  # fmt: skip
    kept, limited = [], []
    for row in rows:
        if _per_visitor.take(f"{site.pk}:{row.message.visitor_key}"):
            limited.append(
                segment.Rejected(
                    row.index,
                    row.message.messageId,
                    "anonymousId",
                    "this visitor sends too many events; slow down",
                )
            )
        else:
            kept.append(row)
    return kept, limited


def reset_limits() -> None:
    global _per_site, _per_visitor
    _per_site = _per_visitor = None


# --- the endpoints ---------------------------------------------------------------------------


def _body_schema(endpoint: str) -> dict:
    message = segment.Message.model_json_schema()
    if endpoint == "batch":
        schema = segment.BatchBody.model_json_schema()
        schema["properties"]["batch"]["items"] = message
    else:
        schema = {**message, "required": []}  # the endpoint says the type
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


api = NinjaAPI(
    title="yesladder tracking API",
    version="1",
    description="Segment's HTTP tracking API. Authenticate with the write key as the HTTP "
    "Basic user name (empty password) or as `writeKey` in the body.",
    urls_namespace="tracking",
    docs_url="/docs",
)
ANSWERS = {200: Accepted, 400: Problem, 401: Problem, 403: Problem, 413: Problem, 429: Problem,
           503: Problem}  # fmt: skip


def _endpoint(endpoint: str, path: str, summary: str, described: bool = True) -> None:
    def view(request: HttpRequest):
        return receive(request, endpoint)

    view.__name__ = f"{path.strip('/')}_messages"
    api.post(path, response=ANSWERS, summary=summary, openapi_extra=_body_schema(endpoint),
             include_in_schema=described)(view)  # fmt: skip


for _name, _summary in [
    ("track", "Record what a visitor did; with properties.funnel and .step, a step action"),
    ("identify", "Tie a visitor to a lead (userId, traits.email) and fill its profile"),
    ("page", "Record a page view with its URL, referrer and UTM tags"),
    ("screen", "Record a screen view in an app"),
    ("group", "Record the group (company, team) a visitor belongs to"),
    ("alias", "Say that previousId and userId are the same person"),
    ("batch", "Several messages of any type in one request"),
]:
    _endpoint(_name, f"/{_name}", _summary)
_endpoint("batch", "/import", "The same as /batch (historical imports)")
for _name in ("track", "identify", "page", "screen", "group", "alias", "batch"):
    # analytics.js, Segment's browser library, posts to the first letter of the call's type.
    _endpoint(_name, f"/{_name[0]}", f"The same as /{_name}", described=False)
