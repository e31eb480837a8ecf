"""Experiments as stored: one row per experiment of a loaded version, and who saw which variant.

An experiment belongs to the version whose spec declares it: a changed experiment is a new
version, so results never mix versions. Each variant's ladder is a FunnelVersion of its own
(`variant` "experiment/variant", `base` the version); the control is the version itself.
"""

from django.db import models


class Experiment(models.Model):
    class State(models.TextChoices):
        RUNNING = "running"
        STOPPED = "stopped"  # everyone new goes to `sends_to`; nobody more is exposed
        SHIPPED = "shipped"  # `winner`'s ladder became the funnel's next version

    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(
        "funnels.FunnelVersion", on_delete=models.CASCADE, related_name="experiments"
    )
    key = models.SlugField(max_length=64)
    name = models.CharField(max_length=500)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    sends_to = models.CharField(max_length=64, blank=True, help_text="variant, once stopped")
    winner = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["funnel", "-version__number", "key"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="one_experiment_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.version} {self.key}"


class Exposure(models.Model):
    """A person's first exposure to an experiment: the denominator of its results. One per
    visitor; a lead's later devices follow its first exposure and are not counted again."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="exposures")
    variant = models.CharField(max_length=64)
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey("leads.Visitor", on_delete=models.CASCADE, related_name="+")
    lead = models.ForeignKey(
        "leads.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    person = models.CharField(max_length=40, help_text="as analytics counts: l<lead> or v<visitor>")
    counted = models.BooleanField(default=True, help_text="false: the lead was exposed before")
    exposed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["experiment", "visitor"], name="one_exposure_each")
        ]
        indexes = [
            models.Index(fields=["experiment", "lead"], name="exposure_lead"),
            models.Index(fields=["experiment", "counted", "variant"], name="exposure_count"),
            models.Index(fields=["version", "person"], name="exposure_person"),
        ]

    def __str__(self) -> str:
        return f"{self.person} saw {self.variant} of {self.experiment}"


# Kept current with exposures and progress in the writer's transaction (experiments.rollup), so
# results sum a few rows whatever the number of people exposed.


class VariantTally(models.Model):
    """Counted exposed people of one variant, from one first-touch source, stopped at one level
    of their variant's ladder (0: no rung yet)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=64)
    source = models.CharField(max_length=200, blank=True)
    level = models.PositiveSmallIntegerField()
    people = models.BigIntegerField(default=0)
    revenue = models.BigIntegerField(default=0, help_text="minor units: paid minus refunded")
    revenue_squares = models.BigIntegerField(default=0, help_text="per person, summed")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "variant", "source", "level"], name="one_variant_tally"
            )
        ]

    def __str__(self) -> str:
        return f"{self.variant} {self.source!r} level {self.level}: {self.people}"


class VariantMove(models.Model):
    """Counted exposed people of one variant who reached its macro step, by the seconds from
    their first rung to it (analytics' kept precision)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    variant = models.CharField(max_length=64)
    seconds = models.BigIntegerField()
    people = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "variant", "seconds"], name="one_variant_move"
            )
        ]

    def __str__(self) -> str:
        return f"{self.variant} in {self.seconds} s: {self.people}"


class BanditPeriod(models.Model):
    """A bandit's weights from `started_at` until the next period: the split assignment uses
    and the split check expects, and the periods results weigh (experiments.bandit)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="periods")
    started_at = models.DateTimeField()
    weights = models.JSONField(help_text="variant -> percent of the period's people")

    class Meta:
        ordering = ["experiment", "started_at"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "started_at"], name="one_period_each")
        ]

    def __str__(self) -> str:
        return f"{self.experiment} from {self.started_at:%Y-%m-%d %H:%M}: {self.weights}"
