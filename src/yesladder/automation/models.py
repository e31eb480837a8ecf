"""Follow-ups: where each lead stands in each automation, the outbox of messages, the links in
them, the suppression list, each lead's engagement standing, and the CRM webhooks.

The outbox is the one way a follow-up leaves: a row is written in the transaction that decided
to send it, and only the worker (automation.outbox) sends it.
"""

import hashlib
import secrets

from django.db import models
from django.utils import timezone


def email_hash(email: str) -> str:
    """What the suppression list keeps: never the address itself, so an erased lead stays
    erased and still never gets mail again."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits


class Enrollment(models.Model):
    """One lead's place in one automation. It follows the funnel version it started in, so a
    changed spec never moves a lead back to an email it already had."""

    class State(models.TextChoices):
        ACTIVE = "active", "running"
        WAITING = "waiting", "waiting"
        DONE = "done", "finished"
        EXITED = "exited", "left at an exit goal"

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="enrollments")
    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.PROTECT, related_name="+")
    automation = models.CharField(max_length=64)
    # What this run is about when one lead can go through it more than once: a booking's
    # reminders ("booking:12"); empty for the once-per-lead automations.
    occurrence = models.CharField(max_length=64, blank=True)
    position = models.CharField(max_length=200, blank=True, help_text="path of the next action")
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    wake_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["lead", "funnel", "automation", "occurrence"], name="one_run_per_lead"
            )
        ]
        indexes = [models.Index(fields=["state", "wake_at"])]

    def __str__(self) -> str:
        return f"{self.lead} in {self.automation} at {self.position or 'end'}"


class Message(models.Model):
    """One email to one address: the outbox row. `key` makes each decision send at most one."""

    class State(models.TextChoices):
        QUEUED = "queued", "waiting to be sent"
        SENDING = "sending", "claimed by a worker"
        SENT = "sent", "accepted by the mail server"
        DEAD = "dead", "gave up after the last try"
        SKIPPED = "skipped", "not sent: suppressed or no consent"

    key = models.CharField(max_length=200, unique=True)
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    to = models.EmailField(max_length=254)
    version = models.ForeignKey(
        "funnels.FunnelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    enrollment = models.ForeignKey(
        Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    template = models.CharField(max_length=64, help_text="the spec's email key, or a built-in")
    variant = models.CharField(
        max_length=64, blank=True, help_text="the version of an email under test this lead got"
    )
    marketing = models.BooleanField(default=True)
    subject = models.CharField(max_length=500)
    text = models.TextField()
    html = models.TextField()
    header_id = models.CharField(max_length=200, help_text="the Message-ID header, kept on retry")
    token = models.CharField(max_length=32, unique=True, default=new_token)  # unsubscribe
    # The open pixel's own token: image proxies fetch and log that URL, and it must not be
    # the one that unsubscribes.
    pixel_token = models.CharField(max_length=32, unique=True, default=new_token)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return f"{self.template} to {self.to} ({self.state})"


class Link(models.Model):
    """A link in a sent message. The redirect goes only to `url`, found by the random token."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="links")
    token = models.CharField(max_length=32, unique=True, default=new_token)
    url = models.CharField(max_length=2000)
    clicks = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.url


class Suppression(models.Model):
    class Reason(models.TextChoices):
        UNSUBSCRIBED = "unsubscribed", "unsubscribed"
        HARD_BOUNCE = "hard_bounce", "hard bounce"
        SOFT_BOUNCES = "soft_bounces", "repeated soft bounces"
        COMPLAINT = "complaint", "marked as spam"
        ERASED = "erased", "erased on request"
        MANUAL = "manual", "added by staff"

    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… ({self.reason})"

    @classmethod
    def covers(cls, email: str) -> bool:
        return cls.objects.filter(email_hash=email_hash(email)).exists()


class Bounce(models.Model):
    """A delivery failure a provider reported; soft ones count towards suppression."""

    email_hash = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16)  # hard, soft, complaint
    provider_event = models.CharField(max_length=200, unique=True)
    detail = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.email_hash[:12]}…"


class Standing(models.Model):
    """A lead's engagement in one funnel: the decaying score and the segments it is in."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="standings")
    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(default=0)
    segments = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)
    last_event_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lead", "funnel"], name="one_standing_per_funnel")
        ]

    def __str__(self) -> str:
        return f"{self.lead} {self.score:.1f} in {self.funnel}"


class ScoreChange(models.Model):
    """The score after something moved it, for the lead's timeline."""

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="+")
    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    segments = models.JSONField(default=list, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.lead} {self.score:.1f} at {self.at:%Y-%m-%d %H:%M}"


class Hook(models.Model):
    """A CRM subscription: lead and step events POSTed, signed, to the operator's URL."""

    url = models.URLField(max_length=2000)
    topics = models.JSONField(
        default=list, help_text='e.g. ["lead.created", "step.completed"]; ["*"] for all'
    )
    secret = models.CharField(max_length=64, default=new_token)
    allow_private = models.BooleanField(
        default=False, help_text="deliver to loopback and private networks (a CRM on the LAN)"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.url

    def wants(self, topic: str) -> bool:
        return self.active and ("*" in self.topics or topic in self.topics)


class HookDelivery(models.Model):
    """One POST of one payload to one hook, retried with backoff like a message."""

    class State(models.TextChoices):
        QUEUED = "queued", "waiting"
        SENDING = "sending", "claimed by a worker"
        SENT = "sent", "answered 2xx"
        DEAD = "dead", "gave up after the last try"

    hook = models.ForeignKey(Hook, on_delete=models.CASCADE, related_name="deliveries")
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=200, unique=True)
    topic = models.CharField(max_length=64)
    payload = models.JSONField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["state", "due_at"])]

    def __str__(self) -> str:
        return f"{self.topic} to {self.hook} ({self.state})"
