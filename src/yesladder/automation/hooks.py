"""CRM webhooks: events written to an outbox in the caller's transaction, then POSTed, signed,
by the worker, with retries and backoff (docs/crm-webhooks.md).

Topics the engine publishes:

- `lead.created`: a visitor gave an address for the first time;
- `lead.updated`: a profile field changed;
- `lead.unsubscribed`: the lead said stop (or bounced hard, or complained);
- `lead.tagged`: an automation tagged the lead;
- `step.completed`: the lead finished a step of a funnel;
- `lead.converted`: the lead reached the funnel's big yes;

and any name an automation's `webhook:` action gives.
"""

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from yesladder import metrics
from yesladder.automation import egress
from yesladder.automation.models import Hook, HookDelivery
from yesladder.automation.outbox import backoff  # one retry rule for mail and webhooks
from yesladder.database import one_writer
from yesladder.tracking.services import quiz_results

logger = logging.getLogger(__name__)

LEAD_CREATED = "lead.created"
LEAD_UPDATED = "lead.updated"
LEAD_UNSUBSCRIBED = "lead.unsubscribed"
LEAD_TAGGED = "lead.tagged"
STEP_COMPLETED = "step.completed"
LEAD_CONVERTED = "lead.converted"
TOPICS = (LEAD_CREATED, LEAD_UPDATED, LEAD_UNSUBSCRIBED, LEAD_TAGGED, STEP_COMPLETED,
          LEAD_CONVERTED)  # fmt: skip

# Both travel in headers, so printable ASCII only; and they fit their columns.
TOPIC_NAME = re.compile(r"\*|[a-z0-9][a-z0-9_.:-]{0,63}")
EVENT_KEY = re.compile(r"[\x21-\x7e]{1,180}")

TIMESTAMP_HEADER = "X-Yesladder-Timestamp"
SIGNATURE_HEADER = "X-Yesladder-Signature"
EVENT_HEADER = "X-Yesladder-Event"
DELIVERY_HEADER = "X-Yesladder-Delivery"
SIGNATURE_VERSION = "v1"
TOLERANCE_SECONDS = 300

ERROR_LENGTH = 500
State = HookDelivery.State


# --- signing ---------------------------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256, keyed with the hook's secret, over `<timestamp>.` and the raw body."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, topic: str, delivery_key: str, body: bytes, now: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if now is None else now
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}",
        EVENT_HEADER: topic,
        DELIVERY_HEADER: delivery_key,
    }


def verify(
    secret: str,
    headers: Mapping[str, str] | tuple[str, str],
    body: bytes,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `body` came from yesladder: the signature matches (compared in constant time)
    and the timestamp is within `tolerance` seconds of now, either way, so a captured request
    cannot be replayed later. `headers` is the request's headers (any case) or the pair
    (timestamp, signature header value)."""
    timestamp, signature = headers if isinstance(headers, tuple) else _signature_headers(headers)
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        return False
    version, _, given = (signature or "").partition("=")
    expected = sign(secret, sent_at, body)
    given_bytes = given.encode(errors="replace")  # hostile input must not raise
    return version == SIGNATURE_VERSION and hmac.compare_digest(given_bytes, expected.encode())


def _signature_headers(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    lower = {name.lower(): value for name, value in headers.items()}
    return lower.get(TIMESTAMP_HEADER.lower()), lower.get(SIGNATURE_HEADER.lower())


# --- publishing ------------------------------------------------------------------------------


def lead_summary(lead) -> dict:
    return {"lead": {"id": lead.pk, "email": lead.email, "status": lead.status,
                     "profile": lead.profile, "tags": lead.tags,
                     "quizzes": quiz_results(lead)}}  # fmt: skip


def on_lead_created(lead) -> None:
    """Reactor (reactions.LEAD_CREATED): the CRM hears of a new lead, once."""
    publish(LEAD_CREATED, lead_summary(lead), lead=lead, key=f"lead:{lead.pk}:created")


def on_lead_updated(lead, changed: dict) -> None:
    """Reactor (reactions.LEAD_UPDATED). Each change is its own event: a profile that changes
    back is news to the CRM too."""
    payload = {**lead_summary(lead), "changed": sorted(changed)}
    publish(LEAD_UPDATED, payload, lead=lead, key=f"lead:{lead.pk}:updated:{secrets.token_hex(8)}")


def publish(topic: str, payload: dict, *, lead=None, key: str) -> int:
    """One delivery per active hook that wants `topic`, written in the caller's transaction
    (so an event that rolls back is never sent). `key` names the event: publishing the same
    key again adds nothing (a key that cannot travel in a header is replaced by its digest).
    Returns how many deliveries were created."""
    if topic == "*" or not TOPIC_NAME.fullmatch(topic):
        raise ValueError(f"{topic!r} is not a topic name (lower-case letters, digits, . _ : -)")
    key = header_safe(key)
    envelope = _normalised({
        "id": key,
        "topic": topic,
        "created_at": timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": payload,
    })  # fmt: skip
    created = 0
    for hook in Hook.objects.filter(active=True).order_by("pk"):
        if hook.wants(topic):
            _, made = HookDelivery.objects.get_or_create(
                key=f"{hook.pk}:{key}",
                defaults={"hook": hook, "lead": lead, "topic": topic, "payload": envelope},
            )
            created += made
    return created


def header_safe(key: str) -> str:
    """The key itself when it can travel in a header and fits its column, else a digest of it:
    event keys can carry a tracking client's own message id, which may hold anything."""
    if EVENT_KEY.fullmatch(key):
        return key
    return "sha256:" + hashlib.sha256(key.encode(errors="replace")).hexdigest()


def _normalised(envelope: dict) -> dict:
    """Dates, decimals and UUIDs as JSON text, so the stored payload is what is sent."""
    return json.loads(json.dumps(envelope, cls=DjangoJSONEncoder))


def body_of(delivery: HookDelivery) -> bytes:
    # Sorted keys: PostgreSQL's jsonb does not keep the order the payload was written in.
    return json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()


# --- delivering ------------------------------------------------------------------------------


def deliver_due(worker_id: str, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Claim up to `limit` due deliveries (and any a killed worker held past its lease), POST
    each one outside any transaction and record the outcome. Safe with several workers.
    Returns how many were attempted."""
    attempted = 0
    for delivery in _claim(limit, now or timezone.now()):
        if _renew(delivery, now or timezone.now()):
            _attempt(delivery, worker_id, now)
            attempted += 1
    return attempted


def _claim(limit: int, now: dt.datetime) -> list[HookDelivery]:
    """Mark a batch `sending`, one more attempt each. PostgreSQL: rows other workers hold are
    skipped. SQLite: the IMMEDIATE transaction lets one claimer in at a time."""
    lease_ended = now - dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    stale = Q(state=State.SENDING, claimed_at__lt=lease_ended)
    due = HookDelivery.objects.filter(
        Q(state=State.QUEUED, due_at__lte=now) | stale, hook__active=True
    )
    if not due.exists():  # a read: an idle worker's tick never takes SQLite's write lock
        return []
    with one_writer(), transaction.atomic():
        _bury_lost_last_tries(stale)
        picked = due.order_by("due_at", "pk").select_for_update(skip_locked=True, of=("self",))
        ids = list(picked.values_list("pk", flat=True)[:limit])
        HookDelivery.objects.filter(pk__in=ids).update(
            state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(HookDelivery.objects.filter(pk__in=ids).select_related("hook").order_by("pk"))


def _bury_lost_last_tries(stale: Q) -> None:
    """A worker died during the last allowed try: no try is left, so it goes to the dead."""
    HookDelivery.objects.filter(stale, attempts__gte=settings.OUTBOX_MAX_ATTEMPTS).update(
        state=State.DEAD, claimed_at=None, last_error="the worker stopped during the last try"
    )


def _mine(delivery: HookDelivery):
    """This claim and no later one: each claim adds an attempt, so the count fences it."""
    return HookDelivery.objects.filter(
        pk=delivery.pk, state=State.SENDING, attempts=delivery.attempts
    )


def _renew(delivery: HookDelivery, now: dt.datetime) -> bool:
    """Restart the lease just before sending, so a long batch does not outlive it; False if
    another worker took the delivery over in the meantime."""
    with one_writer():
        return _mine(delivery).update(claimed_at=now) == 1


def _attempt(delivery: HookDelivery, worker_id: str, now: dt.datetime | None) -> None:
    hook = delivery.hook
    body = body_of(delivery)
    headers = signed_headers(hook.secret, delivery.topic, delivery.key, body)
    allow_private = hook.allow_private or settings.HOOKS_ALLOW_PRIVATE
    try:
        answer = egress.post(hook.url, body, headers, allow_private=allow_private)
    except egress.Refused as exc:
        logger.warning("webhook %s refused by %s: %s", delivery.key, worker_id, exc.reason)
        _settle(delivery, state=State.DEAD, last_status=None, last_error=_short(exc.reason))
    except egress.DeliveryFailed as exc:
        _failed(delivery, exc, now or timezone.now())
    else:
        _settle(delivery, state=State.SENT, sent_at=now or timezone.now(),
                last_status=answer.status, last_error="")  # fmt: skip


def _failed(delivery: HookDelivery, exc: egress.DeliveryFailed, now: dt.datetime) -> None:
    error = _short(exc.reason)
    if delivery.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        logger.warning("webhook %s dead after %d tries: %s", delivery.key, delivery.attempts, error)
        _settle(delivery, state=State.DEAD, last_status=exc.status, last_error=error)
        return
    _settle(delivery, state=State.QUEUED, due_at=now + backoff(delivery.attempts),
            last_status=exc.status, last_error=error)  # fmt: skip


def _settle(delivery: HookDelivery, **fields) -> None:
    with one_writer():
        _mine(delivery).update(claimed_at=None, **fields)
    metrics.WEBHOOKS.labels(RESULTS[fields["state"]]).inc()


RESULTS = {State.SENT: "delivered", State.QUEUED: "failed", State.DEAD: "dead"}


def _short(text: str) -> str:
    return text if len(text) <= ERROR_LENGTH else text[: ERROR_LENGTH - 1] + "…"
