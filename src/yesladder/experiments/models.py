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
        ]

    def __str__(self) -> str:
        return f"{self.person} saw {self.variant} of {self.experiment}"
