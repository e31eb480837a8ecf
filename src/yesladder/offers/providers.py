"""The payment provider an order goes through, by name: the interface and the built-in test
provider are in `payments`; Stripe's adapter (and with it the stripe library, which is large)
is loaded only when an order uses it."""

from django.conf import settings

from yesladder.offers.payments import PaymentsNotConfigured, Provider, TestProvider


def provider(name: str | None = None) -> Provider:
    chosen = name or settings.PAYMENTS
    if chosen == "test":
        return TestProvider()
    if chosen == "stripe":
        from yesladder.offers.stripe_provider import StripeProvider

        return StripeProvider()
    raise PaymentsNotConfigured(
        "payments are not set up: set YESLADDER_PAYMENTS to 'stripe' (with "
        "YESLADDER_STRIPE_SECRET_KEY and YESLADDER_STRIPE_WEBHOOK_SECRET) or to 'test'"
    )
