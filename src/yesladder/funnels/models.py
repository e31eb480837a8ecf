"""Funnels as stored: every loaded spec is an immutable, numbered version.

Whatever is recorded later (journeys, events, orders) points at the version it happened in, so a
changed ladder never rewrites the history of the old one.
"""

import time

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from yesladder.funnels.spec.schema import FunnelSpec

# Every page view needs its version's spec; validating the JSON each time would be the slowest
# part of the request. Keyed by the digest of the canonical spec, so equal digests are equal specs
# (primary keys are not: SQLite reuses the ids of rolled-back rows).
_PARSED_SPECS: dict[int, FunnelSpec] = {}


class UnknownFunnel(LookupError):
    """No funnel has this key (a view answers 404; the tracking API names the field)."""


class Funnel(models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    def current_version(self) -> "FunnelVersion | None":
        return self.versions.current().first()


class VersionQuerySet(models.QuerySet):
    def current(self) -> "VersionQuerySet":
        """The versions as written (never an experiment variant's ladder), newest first: the
        first of a funnel's is its current version, the one new journeys start in. Every
        reader of "the current version" asks here."""
        return self.filter(variant="").order_by("-number")


class FunnelVersion(models.Model):
    class Origin(models.TextChoices):
        FILE = "file", "loaded from a file"
        EDITOR = "editor", "published in the dashboard's editor"
        ROLLBACK = "rollback", "an older version published again"
        EXPERIMENT = "experiment", "an experiment's winner shipped"

    funnel = models.ForeignKey(Funnel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    digest = models.CharField(max_length=64, help_text="SHA-256 of the canonical spec")
    spec_json = models.JSONField()
    source = models.TextField(help_text="the YAML as it was loaded")
    source_file = models.CharField(max_length=1000, blank=True)
    # An experiment variant's ladder is a version of its own, beside the version it varies
    # (same number): journeys, progress and reports then keep each variant apart unchanged.
    variant = models.CharField(max_length=130, blank=True, help_text="experiment/variant")
    base = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="variants"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.FILE)
    author = models.CharField(max_length=200, blank=True, help_text="who stored it, by name")
    # The version the editor (or a rollback) started from: publishing over another is refused.
    based_on = models.PositiveIntegerField(null=True, blank=True)

    objects = VersionQuerySet.as_manager()

    class Meta:
        ordering = ["funnel", "-number", "variant"]
        constraints = [
            models.UniqueConstraint(
                fields=["funnel", "number", "variant"], name="one_number_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.funnel.key} v{self.number}" + (f" {self.variant}" if self.variant else "")

    @property
    def spec(self) -> FunnelSpec:
        """The validated spec; versions never change, so each is parsed once per process."""
        spec = _PARSED_SPECS.get(self.digest)
        if spec is None:
            spec = _PARSED_SPECS[self.digest] = FunnelSpec.model_validate(self.spec_json)
        return spec


class Draft(models.Model):
    """What one user typed in the editor and has not published yet: kept until published or
    discarded, so nothing typed is lost (a closed tab, a refused publish)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    funnel_key = models.CharField(max_length=64, blank=True, help_text="blank: a new funnel")
    text = models.TextField()
    based_on = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "funnel_key"], name="one_draft_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} / {self.funnel_key or '(new funnel)'}"


class Step(models.Model):
    """One rung of one version, as rows so analytics can join on it."""

    version = models.ForeignKey(FunnelVersion, on_delete=models.CASCADE, related_name="steps")
    key = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16)
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=500)
    macro = models.BooleanField(default=False)
    commitment_cost = models.FloatField(help_text="commitment points along the main path")

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="one_key_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.version} / {self.key}"


CURRENT_VERSION_TTL = 2.0  # seconds a process trusts its copy of a funnel's current version
_CURRENT_VERSIONS: dict[str, tuple[float, FunnelVersion]] = {}
_STORED_VERSIONS: dict[int, FunnelVersion] = {}


def current_versions() -> list[FunnelVersion]:
    """Each funnel's current version, with its funnel, in one query."""
    newest = FunnelVersion.objects.filter(funnel=models.OuterRef("funnel")).current()
    return list(
        FunnelVersion.objects.filter(pk=models.Subquery(newest.values("pk")[:1]))
        .select_related("funnel")
        .defer("source")  # the spec is parsed once per process from spec_json (by digest)
    )


def current_version(funnel_key: str) -> FunnelVersion:
    """The funnel's current version, with its funnel. Every page asks, so each process keeps
    the answer for a moment (a newly loaded version reaches new visitors within
    CURRENT_VERSION_TTL). UnknownFunnel when no funnel has this key."""
    cached = _CURRENT_VERSIONS.get(funnel_key)
    if cached and time.monotonic() - cached[0] < CURRENT_VERSION_TTL:
        return cached[1]
    version = (
        FunnelVersion.objects.filter(funnel__key=funnel_key).current()
        .select_related("funnel")
        .defer("spec_json")  # parsed once per process by digest (FunnelVersion.spec)
        .first()
    )  # fmt: skip
    if version is None:
        raise UnknownFunnel(f"no funnel called {funnel_key[:64]!r}")
    _CURRENT_VERSIONS[funnel_key] = (time.monotonic(), version)
    return version


def stored_version(version_id: int) -> FunnelVersion:
    """A version by id, read once per process, with its funnel: versions never change once
    stored (the spec is parsed once per process by digest, so its JSON and YAML are not read
    here). Pages, progress and automation ask on every request."""
    version = _STORED_VERSIONS.get(version_id)
    if version is None:
        version = _STORED_VERSIONS[version_id] = (
            FunnelVersion.objects.select_related("funnel").defer("spec_json", "source")
            .get(pk=version_id)
        )  # fmt: skip
    return version


@receiver(post_save, sender=FunnelVersion)
@receiver(post_delete, sender=FunnelVersion)
@receiver(post_save, sender=Funnel)
def _forget_stored_versions(**kwargs) -> None:
    # Ids come back after a rollback (tests, a failed load): no copy outlives its row.
    _STORED_VERSIONS.clear()
    _CURRENT_VERSIONS.clear()
