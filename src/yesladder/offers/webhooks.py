"""Stripe's webhooks: verified on the raw body, each event applied exactly once.

The signature (HMAC-SHA256 over "timestamp.body") is checked by the `stripe` library with
Stripe's documented tolerance of 300 s, both ways (threat 18). The event id is inserted in the
same transaction as the work it causes; a second delivery, or the same event arriving twice at
once, finds the id and changes nothing (threat 19). Handlers read the object's own state and
only move orders forward, so events in any order converge (threat 20).
"""

import datetime as dt
import logging
import time

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from yesladder.offers import services
from yesladder.offers.models import Order, ProviderEvent
from yesladder.offers.providers import provider

logger = logging.getLogger(__name__)
TOLERANCE = 300  # seconds, as Stripe documents


class BadWebhook(Exception):
    pass


def verified(payload: bytes, signature: str) -> stripe.Event:
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise BadWebhook("webhooks are not set up: YESLADDER_STRIPE_WEBHOOK_SECRET is empty")
    # The library refuses stamps older than the tolerance; one from the future is refused here
    # too, so a captured signature cannot be made to live longer (stripe-php #658).
    stamps = [part[2:] for part in signature.split(",") if part.startswith("t=")]
    if stamps and stamps[0].isdigit() and int(stamps[0]) > time.time() + TOLERANCE:
        raise BadWebhook("the Stripe-Signature timestamp is in the future")
    try:
        return stripe.Webhook.construct_event(
            payload, signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=TOLERANCE
        )
    except stripe.SignatureVerificationError:
        raise BadWebhook("the Stripe-Signature header does not verify") from None
    except ValueError:
        raise BadWebhook("the body is not a Stripe event") from None


def receive(payload: bytes, signature: str) -> bool:
    """Apply one delivery; False when this event was applied before."""
    event = verified(payload, signature)
    with transaction.atomic():
        try:
            with transaction.atomic():
                ProviderEvent.objects.create(provider="stripe", event_id=event.id, type=event.type)
        except IntegrityError:  # applied before (or right now, by a concurrent delivery)
            return False
        apply(event)  # its own errors roll back the insert: Stripe delivers the event again
    return True


def _order(obj) -> Order | None:
    reference = (obj.get("metadata") or {}).get("order") or obj.get("client_reference_id")
    subscription = _subscription_of(obj)
    orders = Order.objects.select_related("version", "journey__visitor", "lead")
    if reference:
        return orders.filter(reference=reference).first()
    return orders.filter(subscription_id=subscription).first() if subscription else None


def _subscription_of(obj) -> str:
    """An invoice names its subscription in `parent` (2025 API) or at the top (older)."""
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    subscription = parent.get("subscription") or obj.get("subscription") or ""
    return subscription if isinstance(subscription, str) else subscription.get("id", "")


def _invoice_reference(obj) -> dict:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return {"metadata": parent.get("metadata") or obj.get("subscription_details", {}).get(
        "metadata") or {}, "subscription": _subscription_of(obj)}  # fmt: skip


def apply(event: stripe.Event) -> None:
    obj = event.to_dict()["data"]["object"]
    if event.type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        session_paid(obj)
    elif event.type in ("checkout.session.async_payment_failed", "checkout.session.expired"):
        order = _order(obj)
        if order and order.state == Order.State.PENDING:
            services.charge_failed(order, f"checkout {event.type.rsplit('.', 1)[-1]}", 0)
    elif event.type == "invoice.paid":
        invoice_paid(obj)
    elif event.type == "invoice.payment_failed":
        invoice_failed(obj)
    else:
        logger.info("stripe event %s (%s) needs nothing here", event.id, event.type)


def session_paid(session: dict) -> None:
    if (session.get("metadata") or {}).get("purpose") == "new_card":
        card_session(session)
        return
    order = _order(session)
    if order is None or session.get("payment_status") not in ("paid", "no_payment_required"):
        return
    services.first_payment(
        order,
        payment_id=session.get("payment_intent") or session.get("setup_intent") or "",
        customer_id=session.get("customer") or "",
        subscription_id=session.get("subscription") or "",
    )


def card_session(session: dict) -> None:
    """The buyer left a new card after a failed payment: once this event is recorded, the
    card is read from Stripe and the failed charge tried again (provider calls after the
    commit, never inside it)."""
    order = _order(session)
    if order is None or session.get("status") not in (None, "complete"):
        return

    def use_it() -> None:
        stripe_ = provider("stripe")
        method = stripe_.card_of(session)
        stripe_.use_card(order, method)
        services.card_updated(order, method)

    transaction.on_commit(use_it)


def invoice_paid(invoice: dict) -> None:
    order = _order(_invoice_reference(invoice))
    if order is None:
        return
    subscription = _subscription_of(invoice)
    if invoice.get("billing_reason") == "subscription_create":
        services.first_payment(order, payment_id=invoice["id"], subscription_id=subscription)
        return
    # A later invoice proves the first one was paid, whichever webhook arrives first.
    services.first_payment(order, subscription_id=subscription)
    services.next_charge_paid(order, invoice["id"], _period_start(invoice))
    order.refresh_from_db()
    if order.state == Order.State.COMPLETED:
        transaction.on_commit(lambda: _stop(order))


def invoice_failed(invoice: dict) -> None:
    """A failed attempt at an invoice; Stripe retries it. A late failure of an invoice that
    was paid meanwhile changes nothing."""
    order = _order(_invoice_reference(invoice))
    if order is None or invoice.get("status") == "paid":
        return
    if order.charges.filter(payment_id=invoice["id"], paid_at__isnull=False).exists():
        return
    # Stripe retries a subscription's invoice on its own schedule and says when it will try
    # next; no next attempt means this was the last.
    next_attempt = invoice.get("next_payment_attempt")
    services.charge_failed(
        order, "the card was declined for an instalment",
        services.nearest_unpaid(order, _period_start(invoice)),
        final=not next_attempt,
        retry_at=dt.datetime.fromtimestamp(next_attempt, dt.UTC) if next_attempt else None,
    )  # fmt: skip


def _period_start(invoice: dict) -> dt.datetime | None:
    """The start of the period an invoice bills (its first line's), as an aware time."""
    lines = (invoice.get("lines") or {}).get("data") or [{}]
    start = (lines[0].get("period") or {}).get("start")
    return dt.datetime.fromtimestamp(start, dt.UTC) if isinstance(start, int) else None


def _stop(order: Order) -> None:
    try:
        provider("stripe").stop(order)
    except Exception:  # the next invoice's webhook tries again
        logger.exception("could not cancel the subscription of order %s", order.pk)
