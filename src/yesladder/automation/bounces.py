"""What mail servers say back: bounces and complaints, and the suppression list they feed.

Two ways in: a provider's tracking webhook (django-anymail normalises every provider's payload
to one event; `on_tracking` receives it) and RFC 3464 delivery-status reports from a bounce
mailbox (`read_dsn`, the `yesladder bounce` command). Both end in `record_bounce`, which keeps
the rule: one hard bounce or complaint, or two soft bounces within 30 days, and the address gets
no more mail (Foodsharing's rule, threat 15). Each provider event counts once, however often
the provider retries it.
"""

import datetime as dt
import email
import hashlib
import re
import unicodedata
from email import policy
from email.message import EmailMessage

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason, tracking
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from yesladder.automation import hooks
from yesladder.automation.models import Bounce, Suppression, email_hash
from yesladder.leads.models import Lead

HARD, SOFT, COMPLAINT, UNSUBSCRIBED = "hard", "soft", "complaint", "unsubscribed"
SOFT_WINDOW = dt.timedelta(days=30)
SOFT_LIMIT = 2
MAX_DETAIL = Bounce._meta.get_field("detail").max_length
MAX_EVENT_ID = Bounce._meta.get_field("provider_event").max_length
REASONS = {
    HARD: Suppression.Reason.HARD_BOUNCE,
    COMPLAINT: Suppression.Reason.COMPLAINT,
    SOFT: Suppression.Reason.SOFT_BOUNCES,
}


def suppress(address: str, reason: str, detail: str = "") -> bool:
    """Put the address on the suppression list (kept as a hash); True when it was not on it."""
    with transaction.atomic():
        _, created = Suppression.objects.get_or_create(
            email_hash=email_hash(address), defaults={"reason": reason, "detail": clean(detail)}
        )
        lead = Lead.objects.filter(email=address.strip().lower()).first()
        if created and lead is not None:  # the CRM stops mailing them too
            payload = {**hooks.lead_summary(lead), "reason": reason}
            hooks.publish(hooks.LEAD_UNSUBSCRIBED, payload, lead=lead, key=f"suppressed:{lead.pk}")
    return created


def record_bounce(address: str, kind: str, event_id: str, detail: str = "") -> str | None:
    """Keep one bounce (`hard`, `soft` or `complaint`) reported as `event_id`; the suppression
    reason when this bounce put the address on the list, else None (a repeat of an event already
    kept, a first soft bounce, or an address suppressed before)."""
    if kind not in REASONS:
        raise ValueError(f"unknown bounce kind {kind!r}; one of {', '.join(REASONS)}")
    digest, detail = email_hash(address), clean(detail)
    with transaction.atomic():
        _, new = Bounce.objects.get_or_create(
            provider_event=_bounded_id(event_id),
            defaults={"email_hash": digest, "kind": kind, "detail": detail},
        )
        if not new or not _over_limit(digest, kind):
            return None
        return REASONS[kind] if suppress(address, REASONS[kind], f"{kind}: {detail}") else None


def _over_limit(digest: str, kind: str) -> bool:
    if kind != SOFT:
        return True
    since = timezone.now() - SOFT_WINDOW
    recent = Bounce.objects.filter(email_hash=digest, kind=SOFT, received_at__gte=since)
    return recent.count() >= SOFT_LIMIT


def clean(text: str) -> str:
    """Text a stranger sent, as one bounded line. Shown only through autoescaping templates."""
    printable = "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(text or ""))
    return " ".join(printable.split())[:MAX_DETAIL]


def _bounded_id(event_id: str) -> str:
    if len(event_id) <= MAX_EVENT_ID:
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode()).hexdigest()


# --- provider webhooks (django-anymail) --------------------------------------------------------

# The provider refused to send because of its own list: keep ours in step with it.
REJECTED_AS = {
    RejectReason.BOUNCED: HARD,
    RejectReason.SPAM: COMPLAINT,
    RejectReason.UNSUBSCRIBED: UNSUBSCRIBED,
}
SMTP_CODE = re.compile(r"^\s*([245])\d\d\b")
ENHANCED_CODE = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


@receiver(tracking, dispatch_uid="yesladder.automation.bounces.on_tracking")
def on_tracking(sender, event: AnymailTrackingEvent, esp_name: str, **kwargs) -> None:
    """Anymail's signal for every verified provider event; bounces and complaints are kept."""
    kind = event_kind(event)
    if kind is None or not event.recipient:
        return
    detail = event.mta_response or event.description or event.event_type
    if kind == UNSUBSCRIBED:
        suppress(event.recipient, Suppression.Reason.UNSUBSCRIBED, f"via {esp_name}")
        return
    record_bounce(event.recipient, kind, provider_event_id(esp_name, event), detail)


def event_kind(event: AnymailTrackingEvent) -> str | None:
    """hard, soft, complaint, unsubscribed, or None for events that change nothing here."""
    if event.event_type == EventType.BOUNCED:
        return SOFT if _looks_soft(event) else HARD
    if event.event_type == EventType.REJECTED:
        return REJECTED_AS.get(event.reject_reason)
    return {
        EventType.DEFERRED: SOFT,
        EventType.COMPLAINED: COMPLAINT,
        EventType.UNSUBSCRIBED: UNSUBSCRIBED,
    }.get(event.event_type)


def _looks_soft(event: AnymailTrackingEvent) -> bool:
    """Several providers report soft bounces as `bounced` (Postmark's SoftBounce, Brevo's and
    Mandrill's soft_bounce): the SMTP reply decides, else the provider's own name for it."""
    response = str(event.mta_response or "")
    code = SMTP_CODE.match(response) or ENHANCED_CODE.search(response)
    if code:
        return code[1] == "4"
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    names = (raw.get("Type"), raw.get("event"), raw.get("type"), event.description)
    return any("soft" in str(name).lower() for name in names if name)


def provider_event_id(esp_name: str, event: AnymailTrackingEvent) -> str:
    """The provider's id for the event, or a digest of what identifies it when it gives none
    (a retried delivery of the same event carries the same fields)."""
    if event.event_id:
        return f"{esp_name}:{event.event_id}"
    parts = (
        event.event_type,
        event.recipient,
        event.message_id,
        event.timestamp,
        event.mta_response,
    )
    digest = hashlib.sha256("\n".join(str(p) for p in parts).encode()).hexdigest()
    return f"{esp_name}:sha256:{digest}"


# --- delivery-status reports (RFC 3464) --------------------------------------------------------


def read_dsn(raw: bytes) -> list[tuple[str, str, str]]:
    """(recipient, "hard" | "soft", detail) for each failed or delayed recipient in a delivery
    status report: `Action: failed` with a 5.x.x status is hard; a 4.x.x failure or a delay
    notice is soft. Delivered and relayed recipients are left out; so is anything that is not a
    report (an empty list)."""
    message = email.message_from_bytes(raw, policy=policy.default)
    found = []
    for fields in _recipient_blocks(message):
        recipient, kind = _recipient(fields), _dsn_kind(fields)
        if recipient and kind:
            detail = f"{fields.get('Status', '')} {fields.get('Diagnostic-Code', '')}"
            found.append((recipient, kind, clean(detail)))
    return found


def _recipient_blocks(message: EmailMessage):
    """The per-recipient field groups of every delivery-status part; never inside an attached
    original message (message/rfc822), which is not ours to read."""
    if message.get_content_type() == "message/delivery-status":
        payload = message.get_payload()
        blocks = payload if isinstance(payload, list) else []
        yield from (b for b in blocks if "Final-Recipient" in b or "Original-Recipient" in b)
    elif message.get_content_maintype() == "multipart":
        for part in message.iter_parts():
            yield from _recipient_blocks(part)


def _recipient(fields) -> str:
    """The address as we sent it (Original-Recipient) when the report gives it."""
    for name in ("Original-Recipient", "Final-Recipient"):
        kind, _, address = str(fields.get(name, "")).partition(";")
        address = address.strip().strip("<>").strip().lower()
        if kind.strip().lower() == "rfc822" and "@" in address:
            return address
    return ""


def _dsn_kind(fields) -> str | None:
    action = str(fields.get("Action", "")).split("(")[0].strip().lower()
    status = str(fields.get("Status", "")).strip()
    if action == "delayed":
        return SOFT
    if action == "failed":
        return HARD if status.startswith("5") else SOFT
    return None


def dsn_event_id(raw: bytes, recipient: str) -> str:
    """A report read twice is the same event for each of its recipients."""
    return f"dsn:{hashlib.sha256(raw).hexdigest()}:{email_hash(recipient)[:16]}"


def record_dsn(raw: bytes) -> list[tuple[str, str, str | None]]:
    """Read a report and keep its bounces: (recipient, kind, suppression reason or None)."""
    return [
        (recipient, kind, record_bounce(recipient, kind, dsn_event_id(raw, recipient), detail))
        for recipient, kind, detail in read_dsn(raw)
    ]
