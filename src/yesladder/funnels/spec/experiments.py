"""The experiments half of a funnel spec: whole ladders tested against each other.

Pure module (no Django). An experiment names its variants; a variant is the funnel's own ladder
with changes: another order of the steps, steps added, removed or replaced, other copy on a step,
another offer. The control is the ladder as written (it carries no changes). `variants.py`
builds each variant's whole spec; `yesladder lint` lints each on its own. Documented in
docs/funnel-spec.md ("Experiments") and docs/experiments.md.
"""

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from yesladder.funnels.spec.types import Duration, Key, LongText, Strict, Text

# What an experiment watches for harm besides its result; each is counted per exposed person.
GUARDRAILS = ("refunds", "cancellations", "unsubscribes", "bounces", "complaints")
Guardrail = Literal["refunds", "cancellations", "unsubscribes", "bounces", "complaints"]
Percent = Annotated[float, Field(ge=0, le=100)]
# The step fields a variant may change in place; offers also take another plan.
COPY_FIELDS = ("title", "value", "cta", "intro", "body")
OFFER_FIELDS = ("price", "trial", "instalments", "guarantee")


class StepChange(Strict):
    """Another copy or another offer on one step; what is not given stays as in the ladder.
    The offer's values are checked when the variant is built, as the offer step's own."""

    title: Text | None = None
    value: Text | None = None
    cta: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    intro: LongText | None = None
    body: LongText | None = None
    ask: Any = None  # the fields the step asks for in this variant, as `ask` in a step
    next: Any = None  # the step's routes in this variant, as `next` in a step
    price: Any = None
    trial: Any = None
    instalments: Any = None
    guarantee: Any = None


class Added(Strict):
    """A step the variant adds, after the step `after` (or first, without it)."""

    after: Key | None = None
    step: dict[str, Any]


class Variant(Strict):
    key: Key
    name: Text | None = None
    weight: Percent
    order: Annotated[list[Key], Field(min_length=1, max_length=40)] | None = None
    remove: Annotated[list[Key], Field(max_length=40)] = Field(default_factory=list)
    add: Annotated[list[Added], Field(max_length=20)] = Field(default_factory=list)
    replace: Annotated[dict[Key, dict[str, Any]], Field(max_length=40)] = Field(
        default_factory=dict
    )
    steps: Annotated[dict[Key, StepChange], Field(max_length=40)] = Field(default_factory=dict)

    def changes(self) -> bool:
        return bool(self.order or self.remove or self.add or self.replace or self.steps)


class Plan(Strict):
    """What the experiment is sized for (`yesladder experiment plan` reads it)."""

    baseline: Annotated[float, Field(gt=0, lt=100)]  # the control's macro conversion, percent
    uplift: Annotated[float, Field(gt=0, le=1000)]  # smallest relative uplift worth finding, %
    daily: Annotated[int, Field(ge=1, le=100_000_000)] | None = None  # people per day


class Reached(Strict):
    """Reaching a named rung of the variant's own ladder, per exposed person."""

    reached: Key


class Happened(Strict):
    """A tracked event (a site's own, `video_80`) on the variant's ladder, per exposed person."""

    event: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=200)]


def _metric_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value), None) if len(value) == 1 else None
    if isinstance(value, Reached | Happened):
        return "reached" if isinstance(value, Reached) else "event"
    return "named" if value in ("conversion", "revenue") else None


# What a test is judged on: the macro conversion, revenue per exposed person, a rung or an event.
Metric = Annotated[
    Annotated[Literal["conversion", "revenue"], Tag("named")]
    | Annotated[Reached, Tag("reached")]
    | Annotated[Happened, Tag("event")],
    Discriminator(
        _metric_kind,
        custom_error_type="metric",
        custom_error_message="expected conversion, revenue, {reached: STEP} or {event: NAME}",
    ),
]


def metric_name(metric: Metric) -> str:
    """How results, the page and the CLI name a metric: conversion, revenue, reached KEY,
    event NAME."""
    if isinstance(metric, Reached):
        return f"reached {metric.reached}"
    if isinstance(metric, Happened):
        return f"event {metric.event}"
    return metric


class Bandit(Strict):
    """Let traffic follow the winner: the weights are set again every `every` from each
    variant's chance to be best on the primary metric (Thompson sampling), each keeping
    `floor` percent. Results weigh each period's people (docs/experiments.md)."""

    every: Duration = dt.timedelta(days=1)
    floor: Annotated[float, Field(ge=0, le=50)] = 5.0  # percent of the people, per variant


class Experiment(Strict):
    key: Key
    name: Text
    description: LongText | None = None
    # The hash that assigns people is keyed on (experiment, salt): a new salt reshuffles them.
    salt: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    traffic: Annotated[float, Field(gt=0, le=100)] = 100.0  # percent of new journeys in it
    control: Key
    variants: Annotated[list[Variant], Field(min_length=2, max_length=8)]
    guardrails: list[Guardrail] = Field(default_factory=lambda: list(GUARDRAILS))
    plan: Plan | None = None
    metric: Metric = "conversion"  # the primary metric: the decision follows it
    secondary: Annotated[list[Metric], Field(max_length=8)] = Field(default_factory=list)
    # No comparison settles before each arm has this many conversions on the metric (people,
    # for revenue): docs/experiments.md shows what lowering it costs in false calls.
    min_conversions: Annotated[int, Field(ge=1, le=1_000_000)] = 150
    bandit: Bandit | None = None

    @model_validator(mode="after")
    def _variants_and_control(self) -> "Experiment":
        keys = [v.key for v in self.variants]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise PydanticCustomError(
                "duplicate_variant", "two variants share the key '{key}'", {"key": twice[0]}
            )
        if self.control not in keys:
            raise PydanticCustomError(
                "experiment_control",
                "`control` names '{control}', which is not one of the variants ({keys})",
                {"control": self.control, "keys": ", ".join(keys)},
            )
        if self.variant(self.control).changes():
            raise PydanticCustomError(
                "control_changes",
                "the control variant '{control}' is the ladder as written: it takes no changes",
                {"control": self.control},
            )
        if self.bandit and isinstance(self.metric, Happened):
            raise PydanticCustomError(
                "bandit_metric", "a bandit is judged on conversion, revenue or a rung", {}
            )
        if self.bandit and self.bandit.floor * len(self.variants) > 100:
            raise PydanticCustomError(
                "bandit_floor",
                "the floor of {k} variants adds up to more than 100%",
                {"k": len(self.variants)},
            )
        if self.bandit and self.bandit.every < dt.timedelta(hours=1):
            raise PydanticCustomError(
                "bandit_every", "a bandit updates its weights at most every hour", {}
            )
        names = [metric_name(m) for m in (self.metric, *self.secondary)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise PydanticCustomError(
                "duplicate_metric", "the metric '{name}' is named twice", {"name": twice[0]}
            )
        return self

    def metrics(self) -> list[Metric]:
        """The primary metric, then the secondary ones."""
        return [self.metric, *self.secondary]

    def variant(self, key: str) -> Variant | None:
        return next((v for v in self.variants if v.key == key), None)

    @property
    def seed(self) -> str:
        return f"{self.key}:{self.salt or ''}"

    def treatments(self) -> list[Variant]:
        """The variants that are not the control: each is a ladder of its own."""
        return [v for v in self.variants if v.key != self.control]
