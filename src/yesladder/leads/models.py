"""Who walks the ladder: anonymous visitors (a first-party cookie) and leads (an email).

A visitor becomes part of a lead when it gives an email; its earlier history is stitched into
the lead (tracking.services.stitch).
"""

import secrets
import uuid

from django.db import models


class Lead(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "waiting for double opt-in confirmation"
        CONFIRMED = "confirmed", "consented"
        # Named by a tracked site's identify call without a consent statement: on the
        # timeline, never mailed marketing.
        IDENTIFIED = "identified", "known from a tracked site, no consent recorded"

    email = models.EmailField(max_length=254, unique=True, help_text="normalised: lower case")
    profile = models.JSONField(default=dict, blank=True, help_text="fields given, by field key")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CONFIRMED)
    user_id = models.CharField(
        max_length=200, unique=True, null=True, blank=True, help_text="the site's own user id"
    )
    tags = models.JSONField(default=list, blank=True, help_text="set by automations and staff")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.email

    def timeline(self):
        """Everything this lead did, on every device, before and after it gave its email."""
        return self.events.order_by("occurred_at", "id")

    def known_fields(self) -> set[str]:
        return {"email"} | {key for key, value in self.profile.items() if value not in ("", None)}


class Visitor(models.Model):
    """One browser or device, identified by a random first-party cookie."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    is_bot = models.BooleanField(default=False)
    user_agent = models.CharField(max_length=512, blank=True)
    # Given out on a share step; visitors arriving with ?r=<code> are attributed to this one.
    referral_code = models.CharField(max_length=16, unique=True, null=True, blank=True)
    # First touch: where the visitor first came from.
    landing_url = models.CharField(max_length=2000, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    utm_content = models.CharField(max_length=200, blank=True)
    utm_term = models.CharField(max_length=200, blank=True)
    # Visitors seen through the tracking API: the site's anonymousId (or "user:<userId>").
    site = models.ForeignKey(
        "tracking.Site", null=True, blank=True, on_delete=models.CASCADE, related_name="visitors"
    )
    anonymous_id = models.CharField(max_length=210, blank=True)
    user_id = models.CharField(max_length=200, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "anonymous_id"], name="one_visitor_per_id")
        ]

    first_request = False  # True on the instance created for a request that had no cookie

    def __str__(self) -> str:
        return str(self.id)

    def share_code(self) -> str:
        """This visitor's referral code, made on first use. 72 random bits: only a label, but
        one nobody can guess to steal another visitor's referrals."""
        if not self.referral_code:
            Visitor.objects.filter(pk=self.pk, referral_code__isnull=True).update(
                referral_code=secrets.token_urlsafe(9)
            )  # conditional, so two requests at once agree on one code
            self.refresh_from_db(fields=["referral_code"])
        return self.referral_code


class Consent(models.Model):
    """Proof of consent: what the visitor was shown, when, where, and the confirmation."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="consents")
    funnel_version = models.ForeignKey(
        "funnels.FunnelVersion", null=True, on_delete=models.PROTECT, related_name="+"
    )
    step_key = models.CharField(max_length=64, blank=True)
    text = models.CharField(max_length=500)
    page_url = models.CharField(max_length=2000)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    double_optin = models.BooleanField(default=False)
    given_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(null=True, blank=True)
    # A list imported with its consent basis: the file it came in and who imported it (the
    # text is the basis; page_url is empty).
    imported_from = models.CharField(max_length=255, blank=True)
    imported_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-given_at"]

    def __str__(self) -> str:
        return f"{self.lead} at {self.given_at:%Y-%m-%d %H:%M}"


class RateCount(models.Model):
    """How often one key (an address, an email) did one thing in one fixed window of time."""

    key = models.CharField(max_length=300)
    window = models.BigIntegerField(help_text="window start, in whole windows since the epoch")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "tracking_ratecount"  # made there first; moved here with limits (no copy)
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="one_count_per_window")
        ]

    def __str__(self) -> str:
        return f"{self.key} x{self.count}"
