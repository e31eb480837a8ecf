"""The append-only event log and each visitor's journey through each funnel."""

import uuid

from django.db import models

from yesladder.tracking.events import EventName


def new_message_id() -> str:
    return uuid.uuid4().hex


class Event(models.Model):
    """An immutable record of one thing a visitor did. Written only by tracking.services."""

    message_id = models.CharField(max_length=100, unique=True, default=new_message_id)
    name = models.CharField(max_length=40, choices=[(e.value, e.value) for e in EventName])
    visitor = models.ForeignKey("leads.Visitor", on_delete=models.CASCADE, related_name="events")
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    funnel_version = models.ForeignKey(
        "funnels.FunnelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    step_key = models.CharField(max_length=64, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    received_at = models.DateTimeField(auto_now_add=True)
    is_bot = models.BooleanField(default=False)

    class Meta:
        ordering = ["occurred_at", "id"]
        indexes = [models.Index(fields=["visitor", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.name} {self.step_key}".strip()


class Journey(models.Model):
    """One visitor's progress through one funnel: what is done and what comes next."""

    visitor = models.ForeignKey("leads.Visitor", on_delete=models.CASCADE, related_name="journeys")
    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.PROTECT, related_name="journeys")
    version = models.ForeignKey(
        "funnels.FunnelVersion", on_delete=models.PROTECT, related_name="journeys"
    )
    current_step = models.CharField(max_length=64)
    done = models.JSONField(default=list, blank=True, help_text="step keys completed, in order")
    answers = models.JSONField(default=dict, blank=True, help_text="quiz and poll answers")
    outcome = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    referred_by = models.ForeignKey(
        "leads.Visitor", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["visitor", "funnel"], name="one_journey_per_funnel")
        ]

    def __str__(self) -> str:
        return f"{self.visitor_id} in {self.funnel_id} at {self.current_step}"


class RateCount(models.Model):
    """How often one key (an address, an email) did one thing in one fixed window of time."""

    key = models.CharField(max_length=300)
    window = models.BigIntegerField(help_text="window start, in whole windows since the epoch")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="one_count_per_window")
        ]

    def __str__(self) -> str:
        return f"{self.key} x{self.count}"
