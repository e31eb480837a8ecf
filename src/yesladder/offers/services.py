"""What happens to an order: placed, paid charge by charge, failed, refunded.

Both payment paths end here: the test provider's page and Stripe's webhooks call the same
functions, which are idempotent and monotonic (a paid charge stays paid, a charge is counted
once), so a webhook delivered twice or out of order leaves the same state (threats 19, 20).
Provider calls happen outside database transactions, with idempotency keys.
"""

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from yesladder import metrics
from yesladder.events import EventName
from yesladder.funnels import money
from yesladder.funnels.spec.schema import StepBase
from yesladder.leads.models import Lead
from yesladder.offers import emails
from yesladder.offers.models import Charge, Order
from yesladder.offers.payments import ProviderError
from yesladder.offers.providers import provider
from yesladder.tracking.journeys import finish
from yesladder.tracking.models import Journey
from yesladder.tracking.services import reacting_together, record

logger = logging.getLogger(__name__)


class RefundRefused(Exception):
    """Why a refund is not given; the message is shown to the operator as is."""


def place_order(
    journey: Journey,
    step: StepBase,
    lead: Lead,
    provider_name: str,
    now: dt.datetime,
    zone: str = "",
) -> Order:
    """The order and its whole schedule, stored before anything is paid, with the buyer's
    `zone` (a valid IANA name or empty: the caller checked it). A visitor who comes back to an
    offer they had started continues the same order."""
    open_order = journey.orders.filter(step_key=step.key, state=Order.State.PENDING).first()
    if open_order:
        return open_order
    version = journey.version
    charges = money.schedule(step, version.spec.currency)
    with transaction.atomic():
        order = Order.objects.create(
            lead=lead, journey=journey, version=version, step_key=step.key, title=step.title,
            currency=version.spec.currency, total=money.total(charges), provider=provider_name,
            guarantee_days=step.guarantee.days if getattr(step, "guarantee", None) else None,
            timezone=zone,
        )  # fmt: skip
        Charge.objects.bulk_create(
            Charge(
                order=order,
                number=c.number,
                label=c.label,
                amount=c.amount,
                after_trial=c.after_trial,
                due_at=now + c.after,
            )  # fmt: skip
            for c in charges
        )
        _event(order, EventName.CHECKOUT_STARTED, total=order.total)
    return order


def _day(order: Order, when: dt.datetime) -> str:
    """A day as the buyer reads it: in the order's zone."""
    return f"{when.astimezone(zoneinfo.ZoneInfo(order.zone)):%-d %b %Y}"


def _event(order: Order, name: EventName, step_key: str = "", **properties) -> None:
    journey = order.journey
    if journey is None:  # the journey was erased with its visitor; the order keeps the money
        return
    properties = {"order": str(order.reference), "currency": order.currency, **properties}
    record(name, journey.visitor, order.version, step_key or order.step_key, properties)


def first_payment(
    order: Order, payment_id: str = "", now: dt.datetime | None = None, **ids
) -> bool:
    """The yes: charge 0 is collected (or a free trial started with a card on file).
    `ids` keeps the provider's customer, subscription and payment method for later charges."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        changed = [k for k, v in ids.items() if v and getattr(order, k) != v]
        for key in changed:
            setattr(order, key, ids[key])
        if changed:
            order.save(update_fields=changed)
        first = order.first_charge()
        if first.paid_at and payment_id and not first.payment_id:  # learnt after the fact
            first.payment_id = payment_id
            first.save(update_fields=["payment_id"])
        return _paid(order, first, payment_id, now or timezone.now())


def next_charge_paid(
    order: Order, payment_id: str, period_start: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> bool:  # fmt: skip
    """A later charge collected by the provider itself (a subscription's invoice), known by
    the provider's id: the same id twice is one payment. The charge is the unpaid one due
    nearest the period the payment is for, so invoices arriving in any order land on the same
    charges."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.charges.filter(payment_id=payment_id).exists():
            return False
        number = nearest_unpaid(order, period_start)
        if number is None:
            logger.warning("order %s: a payment %s beyond its schedule", order.pk, payment_id)
            return False
        return _paid(order, order.charges.get(number=number), payment_id, now or timezone.now())


def nearest_unpaid(order: Order, period_start: dt.datetime | None) -> int | None:
    """The number of the unpaid later charge due nearest `period_start` (else the next)."""
    unpaid = list(
        order.charges.filter(number__gt=0, paid_at=None)
        .exclude(state=Charge.State.CANCELLED)  # a cancelled order's webhooks pay nothing
        .order_by("number")
    )
    if not unpaid:
        return None
    if period_start is None:
        return unpaid[0].number
    return min(unpaid, key=lambda c: abs(c.due_at - period_start)).number


def charge_failed(
    order: Order, failure: str, number: int | None = None, now: dt.datetime | None = None,
    final: bool | None = None, retry_at: dt.datetime | None = None,
) -> None:  # fmt: skip
    """A charge did not go through. At checkout the order just waits for a payment. A later
    charge records `payment_failed` (with the provider's reason) and the buyer is emailed a
    link to update the card, each time; it is tried again on the offer's `retries`, and after
    the last one the order is `failed`, its remaining charges cancelled. A provider that
    retries by itself (a Stripe subscription) says `final` and `retry_at` instead."""
    now = now or timezone.now()
    with transaction.atomic(), reacting_together():
        order = Order.objects.select_for_update().select_related("version", "lead").get(pk=order.pk)
        pending = order.charges.filter(paid_at=None).exclude(state=Charge.State.CANCELLED)
        charge = pending.filter(number=number).first() if number is not None else pending.first()
        if charge is None:
            return
        charge.state, charge.failure = Charge.State.FAILED, failure[:500]
        transaction.on_commit(metrics.CHARGES.labels("failed").inc)
        if not order.started_at or order.state not in (Order.State.ACTIVE, Order.State.RETRYING):
            charge.save(update_fields=["state", "failure"])
            return
        if final is None:
            schedule = order.version.spec.step(order.step_key).retries
            retried = max(charge.attempts - 1, 0)
            final = retried >= len(schedule)
            retry_at = None if final else max(charge.due_at + schedule[retried], now)
        charge.retry_at = None if final else retry_at
        charge.save(update_fields=["state", "failure", "retry_at"])
        if final:
            order.charges.filter(paid_at=None, state=Charge.State.SCHEDULED).update(
                state=Charge.State.CANCELLED
            )
            transaction.on_commit(lambda: _stop_quietly(order))
        order.state = Order.State.FAILED if final else Order.State.RETRYING
        order.save(update_fields=["state"])
        _event(order, EventName.PAYMENT_FAILED, amount=charge.amount, number=charge.number,
               reason=charge.failure, attempts=charge.attempts, final=final,
               retry_at=charge.retry_at.isoformat() if charge.retry_at else None)  # fmt: skip
        emails.send_payment_failed(order, charge, cancel_terms(order, now))


def _stop_quietly(order: Order) -> None:
    """No more charges at the provider for an order that failed; a provider out of reach is
    logged (its own retries then fail on a cancelled schedule: nothing is recorded as paid)."""
    try:
        provider(order.provider).stop(order)
    except Exception:
        logger.exception("could not stop the provider's charges of order %s", order.pk)


def _paid(order: Order, charge: Charge, payment_id: str, now: dt.datetime) -> bool:
    """Mark one charge paid, once; then what it means for the order and the ladder."""
    if charge.paid_at is not None:
        return False
    recovered = charge.number > 0 and (charge.state == Charge.State.FAILED or charge.retry_at)
    if charge.number == 0:  # the schedule counts from the yes, not from the order's creation
        order.charges.filter(paid_at=None).update(due_at=F("due_at") + (now - charge.due_at))
        charge.due_at = now
    charge.state, charge.paid_at, charge.failure, charge.retry_at = Charge.State.PAID, now, "", None
    charge.payment_id = payment_id or charge.payment_id
    charge.save(update_fields=["state", "paid_at", "payment_id", "failure", "due_at", "retry_at"])
    transaction.on_commit(metrics.CHARGES.labels("paid").inc)
    unpaid = order.charges.filter(paid_at=None).exclude(state=Charge.State.CANCELLED)
    if order.state not in (Order.State.REFUNDED, Order.State.CANCELLED, Order.State.FAILED):
        order.state = Order.State.ACTIVE if unpaid.exists() else Order.State.COMPLETED
    order.started_at = order.started_at or now
    order.save(update_fields=["state", "started_at"])
    if charge.number == 0:
        _event(order, EventName.PAID, amount=charge.amount)
        emails.send_receipt(order, cancel_terms(order, now))
    else:
        _event(order, EventName.INSTALMENT_PAID, amount=charge.amount, number=charge.number)
    if recovered:  # back on schedule: the later charges keep their dates
        _event(order, EventName.PAYMENT_RECOVERED, amount=charge.amount, number=charge.number,
               attempts=charge.attempts)  # fmt: skip
    first_after_trial = (
        charge.after_trial
        and not order.charges.filter(after_trial=True, paid_at__isnull=False)
        .exclude(pk=charge.pk)
        .exists()
    )
    if first_after_trial:
        _event(order, EventName.TRIAL_CONVERTED, amount=charge.amount)
    _climb(order, charge, first_after_trial, fully_paid=not unpaid.exists())
    return True


def _climb(order: Order, charge: Charge, trial_converted: bool, fully_paid: bool) -> None:
    """The steps this payment completes: the offer itself at its first payment, and any
    checkout step that completes this offer when its `counts_when` is reached."""
    journey = order.journey
    if journey is None:
        return
    spec = order.version.spec
    reached = {"paid": charge.number == 0, "trial_converted": trial_converted,
               "paid_in_full": fully_paid}  # fmt: skip
    for step in spec.steps:
        placed_here = step.key == order.step_key and charge.number == 0
        completes = step.kind == "checkout" and step.offer == order.step_key
        if placed_here or (completes and reached[step.counts_when]):
            _complete(order, journey, step)


def _complete(order: Order, journey: Journey, step: StepBase) -> None:
    journey = Journey.objects.select_for_update().get(pk=journey.pk)
    finish(journey, step, order=str(order.reference), currency=order.currency, value=order.total)


# --- later charges, collected by us ----------------------------------------------------------


@dataclass(frozen=True)
class Collected:
    paid: int
    failed: int


def collect_due(now: dt.datetime | None = None) -> Collected:
    """Charge every scheduled charge that is due, and every failed one whose retry is due,
    off-session, for orders whose provider does not collect them itself. Run by the worker;
    safe to run twice (a paid charge is skipped, a charge is claimed before the provider is
    asked, provider calls carry idempotency keys)."""
    now = now or timezone.now()
    due = Charge.objects.filter(
        Q(state=Charge.State.SCHEDULED, due_at__lte=now, order__state=Order.State.ACTIVE)
        | Q(state=Charge.State.FAILED, retry_at__lte=now, order__state=Order.State.RETRYING)
        | Q(state=Charge.State.CHARGING, claimed_at__lt=now - CLAIM_LEASE),
        paid_at=None, number__gt=0, order__subscription_id="",
    )  # fmt: skip
    outcomes = [_attempt(order_pk, pk, now) for pk, order_pk in due.values_list("pk", "order_id")]
    return Collected(outcomes.count("paid"), outcomes.count("failed"))


def _attempt(order_pk: int, charge_pk: int, now: dt.datetime) -> str | None:
    """One charge, off-session: "paid", "failed", or None when it was not attempted."""
    charge = _claim(order_pk, charge_pk, now)
    if charge is None:  # cancelled, or taken by another worker, since the list was read
        return None
    try:
        result = provider(charge.order.provider).charge(charge)
    except ProviderError as exc:  # unreachable now: this charge waits for the next run
        logger.warning("charge %s not attempted: %s", charge.pk, exc)
        was = Charge.State.FAILED if charge.retry_at else Charge.State.SCHEDULED
        Charge.objects.filter(pk=charge_pk, state=Charge.State.CHARGING).update(
            state=was, claimed_at=None
        )
        return None
    if not result.ok:
        charge_failed(charge.order, result.failure, charge.number, now)
        return "failed"
    with transaction.atomic(), reacting_together():
        order = Order.objects.select_for_update().get(pk=order_pk)
        return (
            "paid"
            if _paid(order, order.charges.get(pk=charge_pk), result.payment_id, now)
            else None
        )


CLAIM_LEASE = dt.timedelta(minutes=10)  # a worker killed while charging; Stripe's key dedupes


def _claim(order_pk: int, charge_pk: int, now: dt.datetime) -> Charge | None:
    """Take a charge for the provider under the order's lock: a cancel that took the lock
    first has cancelled it; one that comes after sees it being charged and waits its turn."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_pk)
        charge = order.charges.select_related("order__lead").get(pk=charge_pk)
        claimable = (
            (charge.state == Charge.State.SCHEDULED and order.state == Order.State.ACTIVE)
            or (charge.state == Charge.State.FAILED and order.state == Order.State.RETRYING
                and charge.retry_at is not None and charge.retry_at <= now)
            or (charge.state == Charge.State.CHARGING and charge.claimed_at < now - CLAIM_LEASE)
        )  # fmt: skip
        if not claimable:
            return None
        charge.state, charge.claimed_at, charge.attempts = (
            Charge.State.CHARGING, now, charge.attempts + 1,
        )  # fmt: skip
        charge.save(update_fields=["state", "claimed_at", "attempts"])
    return charge


def card_updated(order: Order, payment_method: str, now: dt.datetime | None = None) -> str | None:
    """The buyer left a new card: keep it and try the failed charge again at once; "paid",
    "failed", or None when nothing was waiting for a retry."""
    now = now or timezone.now()
    Order.objects.filter(pk=order.pk).update(payment_method=payment_method)
    if order.subscription_id:  # the provider retries its own invoices with the new card
        return None
    waiting = Charge.objects.filter(order=order, state=Charge.State.FAILED, paid_at=None,
                                    order__state=Order.State.RETRYING, number__gt=0)  # fmt: skip
    outcome = None
    for pk in waiting.values_list("pk", flat=True):
        Charge.objects.filter(pk=pk).update(retry_at=now)
        outcome = _attempt(order.pk, pk, now)
    return outcome


def orders_at_risk(funnel) -> list[Order]:
    """A funnel's orders whose payments fail: retrying, or failed after the last retry."""
    return list(
        Order.objects.filter(
            version__funnel=funnel, state__in=[Order.State.RETRYING, Order.State.FAILED]
        )
        .select_related("lead")
        .prefetch_related("charges")
        .order_by("state", "-created_at")
    )


# --- cancelling ------------------------------------------------------------------------------


class CancelRefused(Exception):
    """Why Cancel stops nothing; the message is shown to the buyer or to staff as is."""


@dataclass(frozen=True)
class CancelTerms:
    """What "Cancel" does to an order now: the charges it stops, or why it stops none."""

    in_trial: bool
    trial_ends: dt.datetime | None
    stops: tuple[Charge, ...]
    refused: str = ""

    def amount(self) -> int:
        return sum(c.amount for c in self.stops)


def cancel_terms(order: Order, now: dt.datetime, whatever_the_offer: bool = False) -> CancelTerms:
    """During a trial Cancel stops every later charge; after it only when the offer's
    `cancel.after_trial` says so (staff, and a provider subscription already stopped, go by
    `whatever_the_offer`)."""
    charges = list(order.charges.order_by("number"))
    after_trial = [c for c in charges if c.after_trial]
    trial_ends = min((c.due_at for c in after_trial), default=None)
    in_trial = (
        trial_ends is not None and now < trial_ends and not any(c.paid_at for c in after_trial)
    )
    later = tuple(c for c in charges if c.paid_at is None and c.state != Charge.State.CANCELLED)

    def refused(reason: str) -> CancelTerms:
        return CancelTerms(in_trial, trial_ends, (), reason)

    if order.state == Order.State.CANCELLED:
        when = f" on {_day(order, order.cancelled_at)}" if order.cancelled_at else ""
        return refused(f"This order was already cancelled{when}: nothing more will be charged.")
    if order.state == Order.State.REFUNDED:
        return refused("This order was refunded: nothing more will be charged.")
    if order.state == Order.State.FAILED:
        return refused("This order ended when its payment failed after the last retry: "
                       "nothing more will be charged.")  # fmt: skip
    if order.started_at is None:
        return refused("Nothing was paid for this order, and nothing is charged unless you pay.")
    if not later:
        return refused("Every charge of this order is paid: there is nothing left to cancel.")
    if any(c.state == Charge.State.CHARGING for c in later):
        return refused("A payment for this order is being taken right now, so nothing was "
                       "cancelled. Please try again in a few minutes.")  # fmt: skip
    step = order.version.spec.step(order.step_key)
    allowed = getattr(getattr(step, "cancel", None), "after_trial", False)
    if not (in_trial or allowed or whatever_the_offer):
        left = money.shown(sum(c.amount for c in later), order.currency)
        ended = f"Your trial ended on {_day(order, trial_ends)}" if trial_ends else "You have paid"
        guarantee = guarantee_ends(order)
        refund = (
            f" Inside the {order.guarantee_days}-day money-back guarantee (until "
            f"{_day(order, guarantee)}) you can still ask for every payment back: reply to your "
            "receipt." if guarantee and now <= guarantee else ""
        )  # fmt: skip
        return refused(
            f"{ended}, and this offer does not let Cancel stop the remaining payments "
            f"({len(later)}, {left} in total): they are the price you agreed to.{refund}"
        )
    return CancelTerms(in_trial, trial_ends, later)


def cancel(order: Order, now: dt.datetime | None = None, by_staff: bool = False) -> CancelTerms:
    """Stop every later charge of an order (the paid ones stay paid), record `trial_cancelled`
    and confirm by email; CancelRefused with the reason otherwise, changing nothing. A provider
    that collects by itself (a Stripe subscription) is stopped first, so if it cannot be
    reached nothing here changes and Cancel can be tried again."""
    now = now or timezone.now()
    order = Order.objects.select_related("version", "lead").get(pk=order.pk)
    terms = cancel_terms(order, now, by_staff)
    if terms.refused:
        raise CancelRefused(terms.refused)
    stopped = bool(order.subscription_id)
    if stopped:
        provider(order.provider).stop(order)
    with transaction.atomic(), reacting_together():
        order = Order.objects.select_for_update().select_related("version", "lead").get(pk=order.pk)
        # Read again under the lock: a charge claimed, or a second click, since the first read.
        terms = cancel_terms(order, now, by_staff or stopped)
        if terms.refused:
            raise CancelRefused(terms.refused)
        order.charges.filter(pk__in=[c.pk for c in terms.stops]).update(
            state=Charge.State.CANCELLED
        )
        order.state, order.cancelled_at = Order.State.CANCELLED, now
        order.save(update_fields=["state", "cancelled_at"])
        _event(order, EventName.TRIAL_CANCELLED, in_trial=terms.in_trial, amount=terms.amount(),
               by="staff" if by_staff else "buyer")  # fmt: skip
        emails.send_cancelled(order, terms)
    return terms


# --- refunds ---------------------------------------------------------------------------------


def guarantee_ends(order: Order) -> dt.datetime | None:
    if order.started_at is None or order.guarantee_days is None:
        return None
    return order.started_at + dt.timedelta(days=order.guarantee_days)


def refund(order: Order, now: dt.datetime | None = None) -> int:
    """Everything paid back, inside the money-back guarantee; returns the amount refunded.
    Outside the window (or with no guarantee) it is refused with the reason."""
    now = now or timezone.now()
    order.refresh_from_db()
    ends = guarantee_ends(order)
    if order.state == Order.State.REFUNDED:
        raise RefundRefused("this order was already refunded")
    if order.started_at is None:
        raise RefundRefused("nothing was paid for this order yet")
    if ends is None:
        raise RefundRefused("this offer has no money-back guarantee")
    if now > ends:
        raise RefundRefused(
            f"the {order.guarantee_days}-day guarantee ended on {ends:%Y-%m-%d %H:%M} UTC; "
            "a refund now is a decision outside the guarantee, made in the provider's dashboard"
        )
    payments = provider(order.provider)
    paid = list(order.charges.filter(paid_at__isnull=False))
    refunds = {c.pk: payments.refund(c, c.amount - c.refunded_amount) for c in paid
               if c.amount > c.refunded_amount}  # fmt: skip
    payments.stop(order)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.state == Order.State.REFUNDED:
            return 0
        amount = 0
        for charge in order.charges.all():
            if charge.pk in refunds:
                amount += charge.amount - charge.refunded_amount
                charge.refunded_amount, charge.state = charge.amount, Charge.State.REFUNDED
            elif charge.paid_at is None:
                charge.state = Charge.State.CANCELLED
            charge.save(update_fields=["refunded_amount", "state"])
        order.state, order.refunded_at = Order.State.REFUNDED, now
        order.save(update_fields=["state", "refunded_at"])
        _event(order, EventName.REFUNDED, amount=amount)
    return amount


def order_for(journey: Journey, step_key: str) -> Order | None:
    """The journey's latest order placed on this step."""
    return journey.orders.filter(step_key=step_key).order_by("-created_at").first()
