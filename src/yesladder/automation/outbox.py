"""The outbox: every follow-up email is a row first, written in the transaction that decided to
send it, and a django-tasks task that sends it when due.

A message is claimed (queued → sending, a conditional update) before it is handed to the mail
server and marked sent right after, so two workers never both send it. A worker killed between
the claim and the mark leaves the row `sending`; after the lease it is queued again. If the kill
came after the server accepted the message, the copy sent on that retry carries the same
Message-ID, which mailbox providers use to show one message (docs/automation.md, "Delivery").
"""

import contextlib
import datetime as dt
import logging
import os
import random
import secrets
import smtplib
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from yesladder.automation import compose
from yesladder.automation.models import Message, Suppression
from yesladder.leads.models import Lead
from yesladder.steps.emails import from_address

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


def base_url() -> str:
    """Where links in follow-ups point. Workers have no request to take an address from;
    without YESLADDER_BASE_URL, the address `yesladder serve` listens on (it says so in
    YESLADDER_SERVED_AT for its children)."""
    return settings.BASE_URL or os.environ.get("YESLADDER_SERVED_AT") or "http://127.0.0.1:8000"


def enqueue(draft: Draft, *, lead=None, version=None, enrollment=None, due_at=None) -> Message:
    """The outbox row and its task, in the caller's transaction; a key seen before returns the
    message already decided (each decision sends at most one email, whatever reruns it)."""
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
        _schedule(message)
    return message


def _header_id() -> str:
    domain = from_address().rpartition("@")[2] or "localhost"
    return f"<{secrets.token_hex(16)}@{domain}>"


def why_not(message: Message) -> str:
    """Why this message must not go out now, or "" when it may."""
    if Suppression.covers(message.to):
        return "the address is on the suppression list"
    if message.marketing:
        status = Lead.objects.filter(pk=message.lead_id).values_list("status", flat=True).first()
        if status != Lead.Status.CONFIRMED:
            return "no marketing consent (double opt-in not confirmed, or never given)"
    return ""


def _skip(message: Message, reason: str) -> None:
    Message.objects.filter(pk=message.pk).update(state=Message.State.SKIPPED, last_error=reason)
    message.state, message.last_error = Message.State.SKIPPED, reason


def _schedule(message: Message) -> None:
    from yesladder.automation.tasks import send_message

    send_message.using(run_after=message.due_at).enqueue(message.pk)


# --- sending -----------------------------------------------------------------------------------


def send(message_id: int, worker: str) -> str:
    """Claim, send and mark one message; returns its state afterwards."""
    now = timezone.now()
    claimed = Message.objects.filter(
        pk=message_id, state=Message.State.QUEUED, due_at__lte=now
    ).update(state=Message.State.SENDING, claimed_at=now, claimed_by=worker,
             attempts=F("attempts") + 1)  # fmt: skip
    if not claimed:
        return "not mine"  # sent, skipped, or claimed by another worker
    message = Message.objects.get(pk=message_id)
    refusal = why_not(message)  # an unsubscribe between the decision and now wins
    if refusal:
        _skip(message, refusal)
        return message.state
    try:
        _hand_over(compose.build(message, base_url()))
    except Exception as exc:  # the server's refusal or a network failure: try again later
        _close_connection()
        return _failed(message, f"{type(exc).__name__}: {exc}")
    Message.objects.filter(pk=message.pk, state=Message.State.SENDING).update(
        state=Message.State.SENT, sent_at=timezone.now(), last_error=""
    )
    return Message.State.SENT


def _failed(message: Message, error: str) -> str:
    with transaction.atomic():
        if message.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            Message.objects.filter(pk=message.pk).update(
                state=Message.State.DEAD, last_error=error[:1000]
            )
            logger.warning(
                "message %s is dead after %s tries: %s", message.pk, message.attempts, error
            )
            return Message.State.DEAD
        message.due_at = timezone.now() + backoff(message.attempts)
        Message.objects.filter(pk=message.pk).update(
            state=Message.State.QUEUED, due_at=message.due_at, last_error=error[:1000]
        )
        _schedule(message)
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
    recovered = 0
    stale = Message.objects.filter(state=Message.State.SENDING, claimed_at__lt=now - lease)
    for message in stale.only("pk", "due_at")[:500]:
        with transaction.atomic():
            taken = Message.objects.filter(
                Q(claimed_at__lt=now - lease), pk=message.pk, state=Message.State.SENDING
            ).update(state=Message.State.QUEUED, due_at=now, claimed_by="")
            if taken:
                message.due_at = now
                _schedule(message)
                recovered += 1
    return recovered


def retry_dead(message: Message) -> None:
    """Staff send a dead letter again (after fixing the mail server): a fresh set of tries."""
    with transaction.atomic():
        message.due_at = timezone.now()
        updated = Message.objects.filter(pk=message.pk, state=Message.State.DEAD).update(
            state=Message.State.QUEUED, attempts=0, due_at=message.due_at, last_error=""
        )
        if updated:
            _schedule(message)


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
