"""The follow-up half of a funnel spec: emails, automations, scoring and segments.

Pure module (no Django). Documented in docs/automation.md; checked further by `yesladder lint`.
Conditions name event properties, profile fields and operators from fixed lists, so a segment
or a branch can never become a query the spec author wrote.
"""

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from yesladder.events import EventName
from yesladder.funnels.spec.types import Duration, FieldKey, Key, LongText, Strict, Text

EVENT_NAMES = tuple(e.value for e in EventName)
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Scalar = str | int | float | bool

# --- conditions --------------------------------------------------------------------------------

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists")


class Test(Strict):
    """One comparison on one value: `{gte: 80}`. A bare value means `eq`."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", max_length=100)
    contains: Annotated[str, Field(max_length=200)] | None = None
    exists: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_value(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else {"eq": value}

    @model_validator(mode="after")
    def _some(self) -> "Test":
        if not self.model_fields_set:
            raise PydanticCustomError(
                "test", "give an operator: {ops}", {"ops": ", ".join(OPERATORS)}
            )
        return self

    def holds(self, value: Any) -> bool:
        """Every operator given must hold. Missing values fail every test but `exists: false`."""
        checks = {name: getattr(self, "in_" if name == "in" else name) for name in OPERATORS}
        return all(
            _holds(name, wanted, value) for name, wanted in checks.items() if wanted is not None
        )


def _holds(operator: str, wanted: Any, value: Any) -> bool:
    if operator == "exists":
        return (value not in (None, "")) == wanted
    if value is None:
        return operator == "ne"
    if operator in ("eq", "ne"):
        same = _same(value, wanted)
        return same if operator == "eq" else not same
    if operator == "in":
        return any(_same(value, w) for w in wanted)
    if operator == "contains":
        return isinstance(value, str) and wanted.lower() in value.lower()
    number = _number(value)
    if number is None:
        return False
    return {
        "gt": number > wanted,
        "gte": number >= wanted,
        "lt": number < wanted,
        "lte": number <= wanted,
    }[operator]


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    if isinstance(wanted, int | float):
        return _number(value) == wanted
    return str(value).lower() == str(wanted).lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN compares with nothing


# An event's property, or one part of a mapping property: `categories.follow-up`.
WhereKey = Annotated[
    str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9][a-z0-9_-]*)?$", max_length=130)
]


class Did(Strict):
    """Something the lead did: an event (or a step completed) matching these filters."""

    event: Literal[EVENT_NAMES] | None = None  # type: ignore[valid-type]
    step: Key | None = None
    label: Text | None = None  # a tracked event's own name (`event: tracked`)
    outcome: Key | None = None  # the quiz outcome (or a scored quiz's tier) on the event
    where: Annotated[dict[WhereKey, Test], Field(max_length=20)] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _something(self) -> "Did":
        if self.event is None and self.step is None:
            raise PydanticCustomError(
                "did", "give `event` (an event name) or `step` (a step completed), or both", {}
            )
        return self

    def event_name(self) -> str:
        """A bare `step` means its completion."""
        return self.event or EventName.STEP_COMPLETED.value

    def matches(self, name: str, step_key: str, label: str, properties: dict) -> bool:
        if name != self.event_name() or (self.step and step_key != self.step):
            return False
        if self.label is not None and label != self.label:
            return False
        if self.outcome is not None and properties.get("outcome") != self.outcome:
            return False
        return all(test.holds(_value(properties, key)) for key, test in self.where.items())


def _value(properties: dict, key: str) -> Any:
    """`categories.follow-up` reads one part of a mapping (a quiz's category scores)."""
    name, _, part = key.partition(".")
    value = properties.get(name)
    if part:
        return value.get(part) if isinstance(value, dict) else None
    return value


class Threshold(Strict):
    gte: float | None = None
    lt: float | None = None

    @model_validator(mode="after")
    def _one(self) -> "Threshold":
        if (self.gte is None) == (self.lt is None):
            raise PydanticCustomError("threshold", "give exactly one of `gte` or `lt`", {})
        return self

    def holds(self, score: float) -> bool:
        return score >= self.gte if self.gte is not None else score < self.lt


class Condition(Strict):
    """Every part given must hold; `any` holds when one of its conditions does."""

    did: Did | None = None
    did_not: Did | None = None
    segment: Key | None = None
    not_segment: Key | None = None
    tag: Name | None = None
    score: Threshold | None = None
    profile: Annotated[dict[FieldKey, Test], Field(max_length=20)] = Field(default_factory=dict)
    any: Annotated[list["Condition"], Field(min_length=1, max_length=20)] | None = None

    @model_validator(mode="after")
    def _something(self) -> "Condition":
        if not self.model_fields_set:
            raise PydanticCustomError(
                "condition",
                "give at least one of did, did_not, segment, not_segment, tag, score, profile, any",
                {},
            )
        return self

    def segments(self) -> set[str]:
        named = {s for s in (self.segment, self.not_segment) if s}
        return named.union(*(c.segments() for c in self.any or []))

    def steps(self) -> set[str]:
        named = {d.step for d in (self.did, self.did_not) if d and d.step}
        return named.union(*(c.steps() for c in self.any or []))


# --- triggers ----------------------------------------------------------------------------------


class Around(Strict):
    """A time relative to the lead's booked call or event session on `step`."""

    step: Key
    before: Duration | None = None
    after: Duration | None = None

    @model_validator(mode="after")
    def _one(self) -> "Around":
        if (self.before is None) == (self.after is None):
            raise PydanticCustomError("around", "give exactly one of `before` or `after`", {})
        return self

    def offset(self) -> dt.timedelta:
        return -self.before if self.before is not None else self.after


class Trigger(Strict):
    """What starts a lead on an automation: exactly one of these."""

    did: Did | None = None
    inactive: Duration | None = None  # no event from the lead for this long
    segment: Key | None = None  # entering the segment
    score: Threshold | None = None  # crossing the threshold
    session: Around | None = None

    @model_validator(mode="after")
    def _one(self) -> "Trigger":
        if len(self.model_fields_set) != 1:
            raise PydanticCustomError(
                "trigger",
                "give exactly one trigger: did, inactive, segment, score or session",
                {},
            )
        return self

    def kind(self) -> str:
        return next(iter(self.model_fields_set))


# --- actions -----------------------------------------------------------------------------------


class Invite(Strict):
    step: Key
    email: Key


class Notify(Strict):
    subject: Text
    body: LongText


class Branch(Strict):
    if_: Annotated[Condition, Field(alias="if")]
    then: Annotated[list["Action"], Field(max_length=50)] = Field(default_factory=list)
    else_: Annotated[list["Action"], Field(alias="else", max_length=50)] = Field(
        default_factory=list
    )


class Action(Strict):
    """One thing an automation does; exactly one field is given."""

    email: Key | None = None
    wait: Duration | None = None
    branch: Branch | None = None
    tag: Name | None = None
    set: Annotated[dict[FieldKey, Scalar], Field(min_length=1, max_length=20)] | None = None
    invite: Invite | None = None
    webhook: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64)] | None = None
    notify: Notify | None = None

    @model_validator(mode="before")
    @classmethod
    def _if_is_a_branch(cls, value: Any) -> Any:
        if isinstance(value, dict) and "if" in value:
            return {"branch": value}
        return value

    @model_validator(mode="after")
    def _one(self) -> "Action":
        if len(self.model_fields_set) != 1:
            raise PydanticCustomError(
                "action",
                "give exactly one action: email, wait, if, tag, set, invite, webhook or notify",
                {},
            )
        return self

    def kind(self) -> str:
        return next(iter(self.model_fields_set))


class Automation(Strict):
    key: Key
    name: Text | None = None
    when: Trigger
    only: Condition | None = None  # who may enter, checked when the trigger fires
    exit: Annotated[list[Condition], Field(max_length=20)] = Field(default_factory=list)
    do: Annotated[list[Action], Field(min_length=1, max_length=50)]
    # Marketing mail needs consent and carries unsubscribe headers; a reminder of a call the
    # lead booked is transactional and goes to anyone with a live booking.
    marketing: bool = True

    def actions(self) -> list[tuple[str, Action]]:
        """Every action with its position, a path such as `2.then.0`: what a lead's place in
        the sequence and each sent message are keyed on."""
        return list(_walk(self.do, ""))


def _walk(actions: list[Action], prefix: str):
    for index, action in enumerate(actions):
        path = f"{prefix}{index}"
        yield path, action
        if action.branch is not None:
            yield from _walk(action.branch.then, f"{path}.then.")
            yield from _walk(action.branch.else_, f"{path}.else.")


# --- emails ------------------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*(?:\|\s*\"([^\"]{0,100})\"\s*)?\}\}")


class EmailVariant(Strict):
    """Another version of an email under test: what it changes (subject, body, preheader; the
    body carries the offer it links to); what it does not give stays as the email's."""

    key: Key
    weight: Annotated[float, Field(gt=0, le=100)]
    subject: Text | None = None
    body: LongText | None = None
    preheader: Text | None = None

    def changes(self) -> bool:
        return bool(self.subject or self.body or self.preheader)


# What an email test is judged on: opens (machine opens and blocked images blur them), clicks
# on its links, or the lead climbing the funnel's next rung after it was sent.
EmailMetric = Literal["clicks", "opens", "next-rung"]


class Email(Strict):
    """A message template: Markdown with `{{ first_name | "there" }}` placeholders; with
    `variants`, a test of several versions, each lead sticking to one (docs/experiments.md)."""

    subject: Text
    body: LongText | None = None
    file: Annotated[str, Field(max_length=500)] | None = None
    preheader: Text | None = None
    # The first is the control, the email as written: it takes no changes.
    variants: Annotated[list[EmailVariant], Field(min_length=2, max_length=8)] | None = None
    metric: EmailMetric = "clicks"
    min_conversions: Annotated[int, Field(ge=1, le=1_000_000)] = 150
    salt: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _body_or_file(self) -> "Email":
        if (self.body is None) == (self.file is None):
            raise PydanticCustomError(
                "email", "give the message as `body` (Markdown) or `file` (a .md path)", {}
            )
        return self

    @model_validator(mode="after")
    def _variants(self) -> "Email":
        if not self.variants:
            return self
        keys = [v.key for v in self.variants]
        problems = [
            (len(set(keys)) < len(keys), "two variants share a key"),
            (self.variants[0].changes(), f"the first variant ('{keys[0]}') is the email as "
             "written, the control: it takes no changes"),
            (abs(sum(v.weight for v in self.variants) - 100) > 1e-9,
             "the variants' weights must add up to 100"),
        ]  # fmt: skip
        for wrong, message in problems:
            if wrong:
                raise PydanticCustomError("email_variants", message, {})
        return self

    def variant(self, key: str) -> "Email":
        """The email as that variant sends it: its changes over the email as written."""
        chosen = next(v for v in self.variants or () if v.key == key)
        changed = {k: getattr(chosen, k) for k in ("subject", "body", "preheader")}
        return self.model_copy(update={k: v for k, v in changed.items() if v is not None})


# --- scoring and segments ----------------------------------------------------------------------

# How much each event says about a lead's intent, before the step's commitment cost is added to
# a completion. Documented in docs/automation.md.
DEFAULT_EVENT_WEIGHTS = {
    "step_viewed": 0.2,
    "cta_clicked": 0.3,
    "read_progress": 0.2,
    "video_progress": 0.3,
    "answered": 0.2,
    "downloaded": 1.0,
    "shared": 1.0,
    "email_clicked": 0.5,
    "registered": 1.0,
    "attended": 2.0,
    "booked": 2.0,
    "paid": 5.0,
}


class Scoring(Strict):
    half_life: Duration = dt.timedelta(days=14)
    weights: Annotated[
        dict[Name, Annotated[float, Field(ge=-100, le=100)]], Field(max_length=60)
    ] = Field(default_factory=dict)
    high: Annotated[float, Field(gt=0, le=10_000)] = 8.0
    qualified_steps: Annotated[int, Field(ge=1, le=40)] = 3

    def weight(self, event: str) -> float:
        return self.weights.get(event, DEFAULT_EVENT_WEIGHTS.get(event, 0.0))


BUILTIN_SEGMENTS = {
    "buyers": "paid for anything in this funnel",
    "non-buyers": "has not paid (yet)",
    "high-engagement": "engagement score at or above `scoring.high`",
    "low-engagement": "engagement score below `scoring.high`",
    "qualified": "completed `scoring.qualified_steps` steps with a high score: ready for a call",
}


def _segments(value: Any) -> Any:
    if isinstance(value, dict):
        clash = set(value) & set(BUILTIN_SEGMENTS)
        if clash:
            raise PydanticCustomError(
                "segment_name",
                "'{name}' is a built-in segment; give yours another name",
                {"name": sorted(clash)[0]},
            )
    return value


Segments = Annotated[dict[Key, Condition], BeforeValidator(_segments), Field(max_length=50)]
