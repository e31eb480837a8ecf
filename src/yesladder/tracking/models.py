"""The append-only event log and each visitor's journey through each funnel."""

import secrets
import uuid

from django.db import models

from yesladder.events import EventName


def new_message_id() -> str:
    return uuid.uuid4().hex


def new_write_key() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


class Site(models.Model):
    """A website or app that sends events to the tracking API with its write keys."""

    name = models.CharField(max_length=100, unique=True)
    origins = models.JSONField(
        default=list,
        blank=True,
        help_text="browser origins allowed to send with this site's keys, like "
        '["https://blog.example.com"]; none: server-side libraries only',
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    def allows_origin(self, origin: str) -> bool:
        """Origins are stored as tracking.sites.normalise_origin writes them."""
        return origin.rstrip("/").lower() in self.origins


class WriteKey(models.Model):
    """What a tracking library sends to say which site it speaks for. Not a secret (it sits in
    the page's source), so revocation is what matters."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="write_keys")
    key = models.CharField(max_length=64, unique=True, default=new_write_key)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key[:6]}… ({self.site})"


class Event(models.Model):
    """An immutable record of one thing a visitor did. Written only by tracking.services and
    tracking.ingestion."""

    # Unique per source: "<site id>:<the client's messageId>" for the tracking API, so a
    # retried batch never doubles an event; a random id for the funnel pages.
    message_id = models.CharField(max_length=120, unique=True, default=new_message_id)
    name = models.CharField(max_length=40, choices=[(e.value, e.value) for e in EventName])
    label = models.CharField(
        max_length=200, blank=True, help_text="the tracked event's or page's own name"
    )
    site = models.ForeignKey(
        Site, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    # No index of its own: (visitor, occurred_at) below serves every lookup by visitor, and each
    # index on a random key costs a page write per event (docs/benchmarks.md, tracking API).
    visitor = models.ForeignKey(
        "leads.Visitor", on_delete=models.CASCADE, related_name="events", db_index=False
    )
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
    future_timestamp = models.BooleanField(
        default=False, help_text="the client's clock put it >23 h ahead; received time used"
    )

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
