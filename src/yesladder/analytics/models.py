"""What reports read: each person's progress up each funnel version's ladder, kept current as
events arrive (analytics.progress), and what traffic cost."""

from django.db import models


class Progress(models.Model):
    """One person's climb up one funnel version's ladder: one row per journey, so a report
    never scans the event log. A person is a lead (every device it used) or, until it gives an
    email, one visitor."""

    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.CASCADE, related_name="+")
    person = models.CharField(max_length=40, help_text="l<lead id> or v<visitor id>")
    lead = models.ForeignKey("leads.Lead", null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")  # fmt: skip
    visitor = models.ForeignKey("leads.Visitor", null=True, blank=True,
                                on_delete=models.CASCADE, related_name="+")  # fmt: skip
    level = models.PositiveSmallIntegerField(default=0, help_text="rungs climbed in order")
    entered_at = models.DateTimeField(null=True, help_text="start of the chain counted")
    gaps = models.JSONField(default=list, help_text="seconds from each rung to the next")
    viewed = models.BigIntegerField(default=0, help_text="bit per rung: seen at all")
    clicked = models.BigIntegerField(default=0, help_text="bit per rung: its call to action")
    optional = models.BigIntegerField(default=0, help_text="bit per optional step, in window")
    opted_in = models.BooleanField(default=False)
    engaged = models.BooleanField(default=False, help_text="video ≥ 80 % or read ≥ 5 minutes")
    excluded = models.BooleanField(default=False, help_text="did an exclusion event in window")
    revenue = models.BigIntegerField(default=0, help_text="minor units: paid minus refunded")
    # Where the person came from: first touch (their first device's first visit) and last
    # touch (the device that took their furthest rung).
    source = models.CharField(max_length=200, blank=True)
    medium = models.CharField(max_length=200, blank=True)
    campaign = models.CharField(max_length=200, blank=True)
    last_source = models.CharField(max_length=200, blank=True)
    last_medium = models.CharField(max_length=200, blank=True)
    last_campaign = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=8, blank=True)
    cohort = models.DateField(null=True, help_text="Monday of the week of the first visit")
    tier = models.CharField(max_length=64, blank=True, help_text="of their latest scored quiz")
    state = models.JSONField(default=dict, help_text="the climb's chains (analytics.climb)")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "person"], name="one_progress_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.person} at rung {self.level} of {self.version_id}"


class TrafficCost(models.Model):
    """What one day of one source's traffic cost: clicks bought and money paid."""

    source = models.CharField(max_length=200, help_text="the utm_source it sends")
    day = models.DateField()
    clicks = models.PositiveIntegerField(default=0)
    cost = models.BigIntegerField(help_text="minor units of `currency`")
    currency = models.CharField(max_length=3, default="USD")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-day", "source"]
        constraints = [
            models.UniqueConstraint(fields=["source", "day"], name="one_cost_per_source_day")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.day}: {self.cost} {self.currency}"


# --- what reports read: per day of entry, people counted once per row they fall in ----------
#
# Kept current with Progress in the same transaction (analytics.rollups), so a report sums a
# few thousand rows whatever the traffic: scanning one row per person is already too slow for
# the embedded database at a million people (docs/analytics.md, docs/benchmarks.md).


class DayRollup(models.Model):
    """People who entered one funnel version on one day (UTC), counted in one row."""

    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("funnels.FunnelVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    people = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class DayTally(DayRollup):
    """People who entered on `day` and stopped at `level`, in one group of one breakdown
    (`dimension` "" is everyone)."""

    dimension = models.CharField(max_length=16, blank=True)
    value = models.CharField(max_length=200, blank=True)
    level = models.PositiveSmallIntegerField()
    opted_in = models.BigIntegerField(default=0)
    engaged = models.BigIntegerField(default=0)
    revenue = models.BigIntegerField(default=0, help_text="minor units")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "day", "dimension", "value", "level"], name="one_day_tally"
            )
        ]
        indexes = [models.Index(fields=["funnel", "dimension", "day"], name="day_tally_read")]

    def __str__(self) -> str:
        return f"{self.day} {self.dimension}={self.value!r} level {self.level}: {self.people}"


class DayMark(DayRollup):
    """People who entered on `day` and saw a rung, clicked its call to action, or took an
    optional step (`position` is the rung, or the optional step's place among them)."""

    mark = models.CharField(max_length=8)  # viewed, clicked or optional
    position = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "day", "mark", "position"], name="one_day_mark"
            )
        ]
        indexes = [models.Index(fields=["funnel", "day"], name="day_mark_read")]

    def __str__(self) -> str:
        return f"{self.day} {self.mark} {self.position}: {self.people}"


class DayMove(DayRollup):
    """People who entered on `day` and took `seconds` from `rung` to the next, at the
    precision the report shows (analytics.footprint.kept_seconds)."""

    rung = models.PositiveSmallIntegerField()
    seconds = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "day", "rung", "seconds"], name="one_day_move"
            )
        ]
        indexes = [models.Index(fields=["funnel", "day"], name="day_move_read")]

    def __str__(self) -> str:
        return f"{self.day} rung {self.rung} in {self.seconds} s: {self.people}"
