"""Orders, their payment schedules, and the payment provider's events applied to them."""

import uuid

from django.db import models
from django.db.models import Q, Sum


class Order(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "waiting for the first payment"
        ACTIVE = "active", "paid so far; more charges scheduled"
        COMPLETED = "completed", "every charge paid"
        RETRYING = "retrying", "a charge failed; retrying"
        FAILED = "failed", "a charge failed after its last retry"
        CANCELLED = "cancelled", "later charges cancelled"
        REFUNDED = "refunded"

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lead = models.ForeignKey("leads.Lead", on_delete=models.PROTECT, related_name="orders")
    journey = models.ForeignKey(
        "tracking.Journey", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.PROTECT)
    step_key = models.CharField(max_length=64)
    title = models.CharField(max_length=500)
    currency = models.CharField(max_length=3)
    total = models.BigIntegerField(help_text="minor units, every scheduled charge")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    provider = models.CharField(max_length=16)
    checkout_id = models.CharField(max_length=255, blank=True)  # e.g. a Stripe Checkout Session
    customer_id = models.CharField(max_length=255, blank=True)
    subscription_id = models.CharField(max_length=255, blank=True, db_index=True)
    payment_method = models.CharField(max_length=255, blank=True, help_text="for later charges")
    guarantee_days = models.PositiveIntegerField(null=True, blank=True)
    # The buyer's zone at checkout (as the offer page used it): emails and the order page show
    # dates in it, named. Empty when the browser never said: UTC, named too.
    timezone = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True, help_text="the first payment")
    refunded_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} for {self.lead} ({self.state})"

    @property
    def zone(self) -> str:
        return self.timezone or "UTC"

    def first_charge(self) -> "Charge":
        return self.charges.get(number=0)

    def paid(self) -> int:
        """What was actually collected, before refunds."""
        return self._sum(~Q(paid_at=None))

    def refunded(self) -> int:
        return self.charges.aggregate(total=Sum("refunded_amount"))["total"] or 0

    def revenue(self) -> int:
        return self.paid() - self.refunded()

    def _sum(self, condition: Q) -> int:
        return self.charges.filter(condition).aggregate(total=Sum("amount"))["total"] or 0


class Charge(models.Model):
    """One charge of an order's schedule, with its due date and state."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled"
        CHARGING = "charging", "being charged now"
        PAID = "paid"
        FAILED = "failed"
        CANCELLED = "cancelled"
        REFUNDED = "refunded"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="charges")
    number = models.PositiveSmallIntegerField(help_text="0 is charged at the yes")
    label = models.CharField(max_length=500)
    amount = models.BigIntegerField(help_text="minor units")
    after_trial = models.BooleanField(default=False)
    due_at = models.DateTimeField(db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SCHEDULED)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_amount = models.BigIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Taken under the order's lock before the provider is asked, so a cancel and a charge at
    # the same moment cannot both win; a claim older than CLAIM_LEASE is taken again.
    claimed_at = models.DateTimeField(null=True, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True, help_text="a failed charge's next try")
    payment_id = models.CharField(max_length=255, blank=True, help_text="the provider's id")
    failure = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["order", "number"]
        constraints = [
            models.UniqueConstraint(fields=["order", "number"], name="one_charge_per_number")
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.amount} {self.order.currency} ({self.state})"


class ProviderEvent(models.Model):
    """A webhook event already applied: the insert happens in the same transaction as the
    work, so an event delivered twice (or twice at once) is applied exactly once."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="apply_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.type} {self.event_id}"
