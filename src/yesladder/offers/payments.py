"""Payment providers behind one interface: Stripe, and a built-in test provider for the demo
and the tests. Which one a server uses is configuration (`YESLADDER_PAYMENTS`); with none set,
offers show their full schedule but take no money.

A provider only talks to the outside world. What a payment means for an order (its charges,
the events, the ladder) is decided in `offers.services`, for both providers alike.
"""

from dataclasses import dataclass
from typing import Protocol

from django.urls import reverse

from yesladder.offers.models import Charge, Order


class PaymentsNotConfigured(Exception):
    pass


class ProviderError(Exception):
    """The provider refused or could not be reached; the message is safe to show."""


@dataclass(frozen=True)
class CheckoutStarted:
    url: str  # where the buyer goes to pay
    checkout_id: str


@dataclass(frozen=True)
class ChargeResult:
    ok: bool
    payment_id: str = ""
    failure: str = ""


class Provider(Protocol):
    name: str

    def start_checkout(self, order: Order, success_url: str, cancel_url: str) -> CheckoutStarted:
        """Where the buyer pays the first charge and leaves a card for the later ones."""

    def charge(self, charge: Charge) -> ChargeResult:
        """A later charge, off-session, with the card left at checkout."""

    def refund(self, charge: Charge, amount: int) -> str:
        """Give back `amount` of a paid charge; returns the provider's refund id."""

    def stop(self, order: Order) -> None:
        """No further charges for this order (cancels a provider-side subscription)."""

    def new_card(self, order: Order, return_url: str) -> str:
        """Where the buyer leaves a new card for this order's later charges."""


def idempotency_key(order: Order, action: str) -> str:
    """Derived from the order, so a retried call (a reload, a retry after a timeout) finds
    the object the first call created (threat 21). Stripe keeps keys for 24 h."""
    return f"yesladder-{order.reference}-{action}"


# The test provider's cards, offered on its own update-card page (numbers as Stripe's tests).
TEST_CARDS = {"pays": "4242 4242 4242 4242", "declines": "4000 0000 0000 0341"}


class TestProvider:
    """Succeeds or fails as told: the test payment page has a Pay and a Decline button, and a
    later charge fails for an address with `+decline` in it (as Stripe's test cards do) until
    the buyer leaves the card that pays on the update-card page."""

    name = "test"

    def start_checkout(self, order: Order, success_url: str, cancel_url: str) -> CheckoutStarted:
        checkout_id = f"test_{order.reference.hex}"
        return CheckoutStarted(reverse("offers:test-pay", args=[checkout_id]), checkout_id)

    def charge(self, charge: Charge) -> ChargeResult:
        card = charge.order.payment_method
        if card == "test_declines" or ("+decline" in charge.order.lead.email and not card):
            return ChargeResult(ok=False, failure="Your card was declined (test).")
        return ChargeResult(
            ok=True, payment_id=f"test_pay_{charge.order.reference.hex}_{charge.number}"
        )

    def refund(self, charge: Charge, amount: int) -> str:
        return f"test_refund_{charge.order.reference.hex}_{charge.number}"

    def stop(self, order: Order) -> None:
        pass

    def new_card(self, order: Order, return_url: str) -> str:
        return ""  # its cards are offered on the update-card page itself
