"""Stripe, through the official `stripe` library.

- An offer with `instalments` becomes a Checkout Session in subscription mode: a recurring price
  of one instalment, the trial as `trial_period_days`, a paid trial's price as a one-time line
  on the first invoice; the subscription is cancelled once the last instalment is paid.
- Anything else (a price, phases) is a Checkout Session in payment mode that keeps the card for
  the later charges (`setup_future_usage`), or setup mode when nothing is due today; later
  charges are made off-session by `collect_due`.
Every call that creates something carries an idempotency key derived from the order.
"""

import stripe
from django.conf import settings

from yesladder.offers.models import Charge, Order
from yesladder.offers.payments import (
    ChargeResult,
    CheckoutStarted,
    PaymentsNotConfigured,
    ProviderError,
    idempotency_key,
)


def client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise PaymentsNotConfigured("set YESLADDER_STRIPE_SECRET_KEY to take payments with Stripe")
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2
    )


def recurring(days: int) -> dict:
    return {"interval": "week", "interval_count": days // 7} if days % 7 == 0 else {
        "interval": "day", "interval_count": days}  # fmt: skip


def checkout_params(order: Order, success_url: str, cancel_url: str) -> dict:
    step = order.version.spec.step(order.step_key)
    currency = order.currency.lower()
    charges = list(order.charges.order_by("number"))
    reference = {"order": str(order.reference)}

    def line(amount: int, name: str, **price) -> dict:
        data = {"currency": currency, "unit_amount": amount, "product_data": {"name": name}}
        return {"price_data": {**data, **price}, "quantity": 1}

    params = {
        "client_reference_id": str(order.reference),
        "customer_email": order.lead.email,
        "success_url": f"{success_url}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": cancel_url,
        "metadata": reference,
    }
    instalments = getattr(step, "instalments", None)
    if instalments:
        trial = step.trial
        plan = line(charges[-1].amount, order.title, recurring=recurring(instalments.every.days))
        extra = [line(charges[0].amount, charges[0].label)] if trial and charges[0].amount else []
        data = {"metadata": reference, **({"trial_period_days": trial.days} if trial else {})}
        return {**params, "mode": "subscription", "line_items": [plan, *extra],
                "subscription_data": data}  # fmt: skip
    # Later charges need the card attached to a Customer, which Checkout makes by itself
    # only in subscription mode.
    params["customer_creation"] = "always"
    if charges[0].amount == 0:
        return {**params, "mode": "setup", "currency": currency,
                "setup_intent_data": {"metadata": reference}}  # fmt: skip
    intent = {"metadata": reference}
    if len(charges) > 1:
        intent["setup_future_usage"] = "off_session"
    return {**params, "mode": "payment", "line_items": [line(charges[0].amount, charges[0].label)],
            "payment_intent_data": intent}  # fmt: skip


class StripeProvider:
    name = "stripe"

    def __init__(self):
        self.client = client()

    def start_checkout(self, order: Order, success_url: str, cancel_url: str) -> CheckoutStarted:
        params = checkout_params(order, success_url, cancel_url)
        options = {"idempotency_key": idempotency_key(order, "checkout")}
        try:
            session = self.client.v1.checkout.sessions.create(params=params, options=options)
        except stripe.StripeError as exc:
            raise ProviderError(exc.user_message or "the payment page could not be opened") from exc
        return CheckoutStarted(session.url, session.id)

    def session(self, checkout_id: str) -> dict:
        """The session as Stripe has it now (the buyer's return is no proof of payment)."""
        return self.client.v1.checkout.sessions.retrieve(checkout_id).to_dict()

    def _payment_method(self, order: Order) -> str:
        if order.payment_method:
            return order.payment_method
        first = order.first_charge().payment_id
        intents = self.client.v1.setup_intents if first.startswith("seti_") else (
            self.client.v1.payment_intents)  # fmt: skip
        method = intents.retrieve(first).payment_method
        order.payment_method = method if isinstance(method, str) else method.id
        order.save(update_fields=["payment_method"])
        return order.payment_method

    def charge(self, charge: Charge) -> ChargeResult:
        order = charge.order
        params = {
            "amount": charge.amount, "currency": order.currency.lower(),
            "customer": order.customer_id, "payment_method": self._payment_method(order),
            "off_session": True, "confirm": True, "metadata": {"order": str(order.reference)},
        }  # fmt: skip
        # One key per charge: a crash after Stripe charged must not lead to a second charge.
        key = idempotency_key(order, f"charge-{charge.number}")
        try:
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": key})
        except stripe.CardError as exc:
            return ChargeResult(ok=False, failure=exc.user_message or "the card was declined")
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc
        ok = intent.status == "succeeded"
        return ChargeResult(ok=ok, payment_id=intent.id, failure="" if ok else intent.status)

    def _refundable(self, payment_id: str) -> dict:
        if not payment_id.startswith("in_"):
            return {"payment_intent": payment_id}
        # An invoice's payment (2025 API): the intent is under invoice.payments.
        invoice = self.client.v1.invoices.retrieve(payment_id, {"expand": ["payments"]})
        return {"payment_intent": invoice.payments.data[0].payment.payment_intent}

    def refund(self, charge: Charge, amount: int) -> str:
        params = {**self._refundable(charge.payment_id), "amount": amount}
        key = idempotency_key(charge.order, f"refund-{charge.number}")
        try:
            return self.client.v1.refunds.create(params, {"idempotency_key": key}).id
        except stripe.StripeError as exc:
            raise ProviderError(str(exc)) from exc

    def new_card(self, order: Order, return_url: str) -> str:
        """A Checkout Session in setup mode for the order's customer; its webhook brings the
        new card (`webhooks.card_session`)."""
        failing = order.charges.filter(state=Charge.State.FAILED).order_by("number").first()
        attempt = f"{failing.number}-{failing.attempts}" if failing else "0"
        reference = {"order": str(order.reference), "purpose": "new_card"}
        params = {
            "mode": "setup", "currency": order.currency.lower(), "customer": order.customer_id,
            "success_url": return_url, "cancel_url": return_url, "metadata": reference,
            "setup_intent_data": {"metadata": reference},
        }  # fmt: skip
        options = {"idempotency_key": idempotency_key(order, f"card-{attempt}")}
        try:
            return self.client.v1.checkout.sessions.create(params=params, options=options).url
        except stripe.StripeError as exc:
            raise ProviderError(exc.user_message or "the card page could not be opened") from exc

    def card_of(self, session: dict) -> str:
        """The payment method a setup session left; a subscription charges it from now on."""
        intent = self.client.v1.setup_intents.retrieve(session["setup_intent"])
        method = intent.payment_method
        return method if isinstance(method, str) else method.id

    def use_card(self, order: Order, method: str) -> None:
        if order.subscription_id:
            self.client.v1.subscriptions.update(
                order.subscription_id, {"default_payment_method": method}
            )

    def stop(self, order: Order) -> None:
        if not order.subscription_id:
            return
        try:
            self.client.v1.subscriptions.cancel(order.subscription_id)
        except stripe.InvalidRequestError:  # already cancelled
            pass
        except stripe.StripeError as exc:
            raise ProviderError("the payment provider could not be reached; try again") from exc
