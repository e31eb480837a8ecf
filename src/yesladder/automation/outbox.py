"""The outbox: every follow-up email is a row first, written in the transaction that decided to
send it; the row is also the queue (`yesladder worker` claims due rows in batches).

Messages are claimed in batches (queued → sending, in one transaction that locks them) before
they are handed to the mail server, and each is marked sent right after its hand-over, so two
workers never both send one. A worker stops a batch at half the lease (a slow or unreachable
mail server) and gives the unsent rest back, so no claim outlives its lease while in use. A
worker killed between the claim and the mark leaves its rows `sending`; after the lease they
are queued again. If the kill came after the server accepted the message in hand, the copy
sent on that retry carries the same Message-ID, which mailbox providers use to show one message
(docs/automation.md, "Delivery").
"""

import contextlib
import datetime as dt
import logging
import random
import secrets
import smtplib
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from yesladder import metrics
from yesladder.automation import compose
from yesladder.automation.models import Message, Suppression, email_hash
from yesladder.leads.emails import base_url, from_address
from yesladder.leads.models import Lead

logger = logging.getLogger(__name__)
MAX_BACKOFF = dt.timedelta(days=1)


@dataclass(frozen=True)
class Draft:
    """A message someone decided to send: what `enqueue` needs."""

    key: str
    to: str
    subject: str
    text: str
    html: str
    template: str
    marketing: bool
    variant: str = ""  # of an email under test


def enqueue(draft: Draft, *, lead=None, version=None, enrollment=None, due_at=None) -> Message:
    """The outbox row, in the caller's transaction; a key seen before returns the message
    already decided (each decision sends at most one email, whatever reruns it)."""
    due_at = due_at or timezone.now()
    with transaction.atomic():
        existing = Message.objects.filter(key=draft.key).first()
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                message = Message.objects.create(
                    key=draft.key, to=draft.to, subject=draft.subject, text=draft.text,
                    html=draft.html, template=draft.template, marketing=draft.marketing,
                    variant=draft.variant,
                    lead=lead, version=version, enrollment=enrollment, due_at=due_at,
                    header_id=_header_id(),
                )  # fmt: skip
        except IntegrityError:  # decided at the same moment elsewhere
            return Message.objects.get(key=draft.key)
        refusal = why_not(message)
        if refusal:
            _skip(message, refusal)
            return message
        compose.track(message, base_url())
    return message


def _header_id() -> str:
    domain = from_address().rpartition("@")[2] or "localhost"
    return f"<{secrets.token_hex(16)}@{domain}>"


SUPPRESSED = "the address is on the suppression list"
NO_CONSENT = "no marketing consent (double opt-in not confirmed, or never given)"


def why_not(message: Message) -> str:
    """Why this message must not go out now, or "" when it may."""
    return refusals([message]).get(message.pk, "")


def refusals(messages: list[Message]) -> dict[int, str]:
    """Why each of these messages must not go out now, by id (two queries for any number)."""
    hashes = {message.pk: email_hash(message.to) for message in messages}
    suppressed = set(
        Suppression.objects.filter(email_hash__in=set(hashes.values())).values_list(
            "email_hash", flat=True
        )
    )
    marketing_leads = {m.lead_id for m in messages if m.marketing and m.lead_id is not None}
    confirmed = set(
        Lead.objects.filter(pk__in=marketing_leads, status=Lead.Status.CONFIRMED).values_list(
            "pk", flat=True
        )
    )
    found = {}
    for message in messages:
        if hashes[message.pk] in suppressed:
            found[message.pk] = SUPPRESSED
        elif message.marketing and message.lead_id not in confirmed:
            found[message.pk] = NO_CONSENT
    return found


def _skip(message: Message, reason: str) -> None:
    Message.objects.filter(pk=message.pk).update(state=Message.State.SKIPPED, last_error=reason)
    message.state, message.last_error = Message.State.SKIPPED, reason


# --- sending -----------------------------------------------------------------------------------


def send_due(worker: str, limit: int) -> list[str]:
    """Claim up to `limit` due messages, oldest due first, and send each; returns the states of
    those it handled (empty when nothing was due or another worker holds everything due)."""
    if not _anything_due():  # a read: an idle poll takes no write lock on SQLite
        return []
    batch = claim_due(worker, limit)
    deadline = time.monotonic() + settings.OUTBOX_LEASE_SECONDS / 2
    states: list[str] = []
    try:
        refused = refusals(batch)  # an unsubscribe between the decision and now wins
        for message in batch:
            if time.monotonic() > deadline or _server_down(states):
                break
            states.append(_send_claimed(message, refused.get(message.pk, "")))
    finally:
        _release(batch[len(states) :], worker)
    for state in states:
        metrics.EMAILS.labels(RESULTS[state]).inc()
    return states


# How /metrics names what became of a message handed to the mail server.
RESULTS = {Message.State.SENT: "sent", Message.State.QUEUED: "failed",
           Message.State.DEAD: "dead", Message.State.SKIPPED: "skipped"}  # fmt: skip


def _server_down(states: list[str]) -> bool:
    """Two failures in a row: the rest of the batch waits for the next round, not for timeouts."""
    return states[-2:] == [Message.State.QUEUED] * 2


def _release(messages: list[Message], worker: str) -> None:
    """Claimed but not sent: back in the queue as they were, the try not counted."""
    if messages:
        Message.objects.filter(
            pk__in=[m.pk for m in messages], state=Message.State.SENDING, claimed_by=worker
        ).update(state=Message.State.QUEUED, claimed_by="", attempts=F("attempts") - 1)


def _anything_due() -> bool:
    return Message.objects.filter(state=Message.State.QUEUED, due_at__lte=timezone.now()).exists()


def claim_due(worker: str, limit: int) -> list[Message]:
    """Due messages, now `sending` and ours. SKIP LOCKED lets workers on PostgreSQL claim
    different rows at the same moment; on SQLite the IMMEDIATE transaction orders them."""
    now = timezone.now()
    with transaction.atomic():
        due = Message.objects.filter(state=Message.State.QUEUED, due_at__lte=now)
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("due_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        Message.objects.filter(pk__in=ids).update(
            state=Message.State.SENDING, claimed_at=now, claimed_by=worker,
            attempts=F("attempts") + 1,
        )  # fmt: skip
        return list(Message.objects.filter(pk__in=ids).order_by("due_at", "id"))


def _send_claimed(message: Message, refusal: str) -> str:
    if refusal:
        _skip(message, refusal)
        return message.state
    try:
        _hand_over(compose.build(message, base_url()))
    except Exception as exc:  # the server's refusal or a network failure: try again later
        _close_connection()
        return _failed(message, f"{type(exc).__name__}: {exc}")
    _mark_sent(message)
    return Message.State.SENT


def _mark_sent(message: Message) -> None:
    # One by one, not per batch: a worker killed now re-sends only the message in hand.
    _mine(message).update(state=Message.State.SENT, sent_at=timezone.now(), last_error="")


def _mine(message: Message):
    """The message while this worker's claim on it holds (never another worker's state)."""
    return Message.objects.filter(
        pk=message.pk, state=Message.State.SENDING, claimed_by=message.claimed_by
    )


def _failed(message: Message, error: str) -> str:
    if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        _mine(message).update(state=Message.State.DEAD, last_error=error[:1000])
        logger.warning("message %s is dead after %s tries: %s", message.pk, message.attempts, error)
        return Message.State.DEAD
    message.due_at = timezone.now() + backoff(message.attempts)
    _mine(message).update(
        state=Message.State.QUEUED, due_at=message.due_at, last_error=error[:1000]
    )
    return Message.State.QUEUED


def backoff(attempts: int) -> dt.timedelta:
    """Exponential, with a tenth of jitter so a mail server's hiccup does not get every retry
    at the same second."""
    base = settings.OUTBOX_RETRY_SECONDS * 2 ** max(attempts - 1, 0)
    delay = dt.timedelta(seconds=base * (1 + random.random() / 10))  # noqa: S311
    return min(delay, MAX_BACKOFF)


def recover_stale(now: dt.datetime | None = None) -> int:
    """Messages claimed by a worker that died (the lease ran out) are queued again."""
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    stale = Message.objects.filter(state=Message.State.SENDING, claimed_at__lt=now - lease)
    if not stale.exists():  # a read: the tick runs every second
        return 0
    return stale.update(state=Message.State.QUEUED, due_at=now, claimed_by="")


def retry_dead(message: Message) -> None:
    """Staff send a dead letter again (after fixing the mail server): a fresh set of tries."""
    message.due_at = timezone.now()
    Message.objects.filter(pk=message.pk, state=Message.State.DEAD).update(
        state=Message.State.QUEUED, attempts=0, due_at=message.due_at, last_error=""
    )


# One SMTP connection per worker thread, kept open between messages: connecting and greeting
# cost more than sending one message.
_local = threading.local()


def _hand_over(email) -> None:
    fresh = getattr(_local, "connection", None) is None
    try:
        sent = _connection().send_messages([email])
    except smtplib.SMTPServerDisconnected:
        if fresh:
            raise
        _close_connection()  # the server dropped our idle connection: one new one, once
        sent = _connection().send_messages([email])
    if not sent:
        raise RuntimeError("the mail backend accepted no message")


def _connection():
    connection = getattr(_local, "connection", None)
    if connection is None:
        connection = _local.connection = get_connection(fail_silently=False)
        connection.open()
    return connection


def _close_connection() -> None:
    connection = getattr(_local, "connection", None)
    _local.connection = None
    if connection is not None:
        with contextlib.suppress(Exception):  # already broken: nothing left to close cleanly
            connection.close()
