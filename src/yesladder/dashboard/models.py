"""A lead list imported from the browser: the dashboard stores the checked file's plan and one
ImportRun, and the worker imports it in chunks, counting as it goes, so the page shows a bar
(dashboard.importruns)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ImportRun(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued"  # waiting for a worker
        RUNNING = "running"  # a worker holds it (claimed_by, until lease_until) or it waits
        DONE = "done"
        FAILED = "failed"

    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    name = models.CharField(max_length=255)  # the file's name, as it came
    token = models.CharField(max_length=22)  # its plan in $YESLADDER_HOME/imports
    consent = models.TextField(blank=True)
    tag = models.CharField(max_length=64, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    actor = models.CharField(max_length=200)  # the importer's name at the time
    rows_total = models.PositiveIntegerField(default=0)  # the good rows of the dry run
    rows_done = models.PositiveIntegerField(default=0)  # stored (committed) so far
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    consents = models.PositiveIntegerField(default=0)
    refused = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)
    # The first refused rows, [line, reason]: they may hold addresses, so they are kept a day.
    bad = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["state", "lease_until"])]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.name}: {self.state}"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        return 100 if not self.rows_total else self.rows_done * 100 // self.rows_total
