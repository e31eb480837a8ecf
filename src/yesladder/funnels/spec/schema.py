"""The funnel spec: one funnel per YAML file, validated by these pydantic models.

Pure module (no Django): the linter, the loader and later the server all read a `FunnelSpec`.
Every field is documented in docs/funnel-spec.md.
"""

import datetime as dt
import difflib
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import PydanticCustomError

from yesladder.events import EventName
from yesladder.funnels.spec.automations import (
    BUILTIN_SEGMENTS,
    Automation,
    Email,
    Scoring,
    Segments,
)
from yesladder.funnels.spec.experiments import Experiment
from yesladder.funnels.spec.types import (
    Duration,
    FieldKey,
    Key,
    LongText,
    Strict,
    Text,
)

KINDS = (
    "content", "video", "optin", "form", "magnet", "quiz",
    "poll", "event", "booking", "share", "offer", "checkout",
)  # fmt: skip

# --- money ---------------------------------------------------------------------------------


def _money(value: Any) -> Decimal:
    # YAML reads 7.95 as a float; str() gives back the digits the author wrote.
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise PydanticCustomError("money", "expected an amount such as 47 or 7.95", {})
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PydanticCustomError(
            "money", "expected an amount such as 47 or 7.95, got '{value}'", {"value": value}
        ) from None
    if not amount.is_finite() or amount < 0:
        raise PydanticCustomError("money", "an amount must be zero or more", {})
    if amount > Decimal("100000000"):
        raise PydanticCustomError("money", "an amount must be below 100,000,000", {})
    return amount


Money = Annotated[Decimal, BeforeValidator(_money)]

# ISO 4217 currencies without minor units; every other code is taken to have two.
ZERO_DECIMAL_CURRENCIES = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
                           "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}  # fmt: skip


def currency_exponent(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


# --- personal data asked ---------------------------------------------------------------------

Sensitivity = Literal["low", "medium", "high"]
FieldType = Literal["text", "textarea", "email", "tel", "url", "number", "choice", "country"]


class KnownField(BaseModel):
    label: str
    type: FieldType
    points: float  # commitment cost of giving it (docs/commitment-cost.md)
    seconds: int  # typing effort on a phone


# Ordered by sensitivity, as the brief asks: email < name < company < phone < payment details.
KNOWN_FIELDS: dict[str, KnownField] = {
    "email": KnownField(label="Email", type="email", points=1.0, seconds=6),
    "first_name": KnownField(label="First name", type="text", points=1.0, seconds=3),
    "last_name": KnownField(label="Last name", type="text", points=1.0, seconds=3),
    "name": KnownField(label="Name", type="text", points=1.25, seconds=4),
    "country": KnownField(label="Country", type="country", points=0.5, seconds=3),
    "website": KnownField(label="Website", type="url", points=1.25, seconds=6),
    "company_size": KnownField(label="Company size", type="choice", points=1.25, seconds=3),
    "industry": KnownField(label="Industry", type="text", points=1.25, seconds=4),
    "company": KnownField(label="Company", type="text", points=1.5, seconds=4),
    "role": KnownField(label="Role", type="text", points=1.5, seconds=4),
    "phone": KnownField(label="Phone", type="tel", points=2.5, seconds=8),
    "address": KnownField(label="Postal address", type="textarea", points=2.5, seconds=20),
    "card": KnownField(label="Payment details", type="text", points=3.0, seconds=25),
}
SENSITIVITY_POINTS = {"low": 1.0, "medium": 1.5, "high": 2.5}


class AskedField(Strict):
    """One personal field a step asks: a built-in name (`email`) or a custom definition."""

    key: FieldKey
    label: Text
    type: FieldType = "text"
    options: list[Text] = Field(default_factory=list, max_length=50)
    sensitivity: Sensitivity = "low"
    required: bool = True
    builtin: bool = False
    seconds: int = Field(default=5, ge=1, le=600)
    points: float | None = None  # set for built-in fields; custom ones use `sensitivity`

    @model_serializer(mode="wrap")
    def _as_written(self, handler: Any) -> Any:
        if self.builtin:
            return self.key
        data = handler(self)
        return {k: v for k, v in data.items() if k not in ("builtin", "points")}

    def cost_points(self) -> float:
        return self.points if self.points is not None else SENSITIVITY_POINTS[self.sensitivity]

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            known = KNOWN_FIELDS.get(value)
            if known is None:
                close = difflib.get_close_matches(value, list(KNOWN_FIELDS), n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise PydanticCustomError(
                    "unknown_personal_field",
                    "unknown field name '{value}'; {hint}built-in fields are: {known}; "
                    "or define your own with `key` and `label`",
                    {"value": value, "hint": hint, "known": ", ".join(KNOWN_FIELDS)},
                )
            return {"key": value, "builtin": True, **known.model_dump()}
        if isinstance(value, dict):
            internal = {"builtin", "points"} & set(value)
            if internal:
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field '{field}'{hint} (allowed here: {allowed})",
                    {
                        "field": internal.pop(),
                        "hint": "",
                        "allowed": "key, label, type, options, sensitivity, required, seconds",
                    },
                )
            if value.get("key") in KNOWN_FIELDS:
                raise PydanticCustomError(
                    "builtin_field",
                    "'{key}' is a built-in field: write it as the plain name `{key}`",
                    {"key": value["key"]},
                )
        return value


class Ask(Strict):
    """What a step asks of the visitor, besides attention."""

    fields: list[AskedField] = Field(default_factory=list, max_length=30)
    effort: int | None = Field(
        default=None, ge=0, le=7200, description="seconds, overrides the estimate"
    )


# --- where the ladder goes next --------------------------------------------------------------


class AnswerIs(Strict):
    question: Key
    option: Key


class Condition(Strict):
    outcome: Key | None = None
    answer: AnswerIs | None = None

    @model_validator(mode="after")
    def _one(self) -> "Condition":
        if (self.outcome is None) == (self.answer is None):
            raise PydanticCustomError("condition", "give exactly one of `outcome` or `answer`", {})
        return self


class NextRule(Strict):
    step: Key
    when: Condition | None = None  # no condition: the default route


Next = Key | Annotated[list[NextRule], Field(min_length=1, max_length=20)] | None


# --- the steps -------------------------------------------------------------------------------


class StepBase(Strict):
    key: Key
    kind: str
    title: Text
    value: Text | None = None
    cta: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    ask: Ask = Field(default_factory=Ask)
    next: Next = None
    macro: bool = False
    # Off the main ladder (a side door or one branch of a route): reported on its own, never a
    # rung people must climb to count further up (docs/analytics.md).
    optional: bool = False
    intro: LongText | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None  # hosted elsewhere (snippet)

    def next_is_explicit(self) -> bool:
        return "next" in self.model_fields_set

    def asked_fields(self) -> list[AskedField]:
        return list(self.ask.fields)

    def payments(self) -> list["Payment"]:
        """Every amount this step's yes commits to, with when it is charged."""
        return []


class Content(StepBase):
    kind: Literal["content"]
    body: LongText | None = None
    file: Annotated[str, Field(max_length=500)] | None = None
    read_minutes: Annotated[float, Field(gt=0, le=240)] | None = None

    @model_validator(mode="after")
    def _body_or_file(self) -> "Content":
        if self.url is None and (self.body is None) == (self.file is None):
            raise PydanticCustomError(
                "content",
                "give the article as `body` (Markdown) or `file` (a .md path), "
                "or `url` when it is hosted elsewhere",
                {},
            )
        return self


class Video(StepBase):
    kind: Literal["video"]
    src: Annotated[str, Field(min_length=1, max_length=2000)]
    duration: Annotated[int, Field(gt=0, le=36000, description="seconds")]
    poster: Annotated[str, Field(max_length=2000)] | None = None
    captions: Annotated[str, Field(max_length=2000)] | None = None
    intent_percent: Annotated[int, Field(ge=1, le=100)] = 80


class Optin(StepBase):
    kind: Literal["optin"]
    consent: Text = "Email me this and occasional tips. Unsubscribe with one click."
    double_optin: bool | None = None  # None: the funnel's setting

    def asked_fields(self) -> list[AskedField]:
        fields = list(self.ask.fields)
        if not any(f.key == "email" for f in fields):
            fields.insert(0, AskedField.model_validate("email"))
        return fields


class Screen(Strict):
    title: Text | None = None
    fields: Annotated[list[AskedField], Field(min_length=1, max_length=12)]


class Form(StepBase):
    kind: Literal["form"]
    screens: Annotated[list[Screen], Field(min_length=1, max_length=12)]
    progress: bool = True

    @model_validator(mode="after")
    def _fields_in_screens(self) -> "Form":
        if self.ask.fields:
            raise PydanticCustomError(
                "form_fields", "a form asks its fields in `screens`; remove `ask.fields`", {}
            )
        return self

    def asked_fields(self) -> list[AskedField]:
        return [f for screen in self.screens for f in screen.fields]


class Asset(Strict):
    name: Text
    file: Annotated[str, Field(max_length=500)] | None = None
    url: Annotated[str, Field(max_length=2000)] | None = None
    expires: Duration = dt.timedelta(days=7)

    @model_validator(mode="after")
    def _file_or_url(self) -> "Asset":
        if (self.file is None) == (self.url is None):
            raise PydanticCustomError("asset", "give the asset as `file` or `url`, not both", {})
        return self


class Magnet(StepBase):
    kind: Literal["magnet"]
    asset: Asset
    email_copy: bool = True


class Option(Strict):
    key: Key
    label: Text
    scores: dict[Key, int] = Field(default_factory=dict)  # points per outcome (an outcome quiz)
    points: Annotated[int, Field(ge=0, le=1000)] = 0  # toward the score (a scored quiz)


class Scale(Strict):
    min: Annotated[int, Field(ge=0, le=1)] = 1
    max: Annotated[int, Field(ge=2, le=10)] = 5
    reverse: bool = False  # the low end scores: "how often do deals slip?"


class Range(Strict):
    """Numbers from `min` to `max` (both included; no `max`: and above) score `points`."""

    min: Annotated[int, Field(ge=0, le=1_000_000)]
    max: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    points: Annotated[int, Field(ge=0, le=1000)] = 0


QUESTION_TYPES = ("single", "multiple", "scale", "number")


class Question(Strict):
    key: Key
    text: Text
    type: Literal["single", "multiple", "scale", "number"] = "single"
    options: Annotated[list[Option], Field(max_length=12)] = Field(default_factory=list)
    max_choices: Annotated[int, Field(ge=1, le=12)] | None = None  # a multiple choice's cap
    scale: Scale | None = None
    ranges: Annotated[list[Range], Field(max_length=20)] = Field(default_factory=list)
    category: Key | None = None  # its points also count toward this category
    show_if: AnswerIs | None = None  # shown only when an earlier answer holds

    @model_validator(mode="after")
    def _fits_its_type(self) -> "Question":
        choice = self.type in ("single", "multiple")
        if choice and len(self.options) < 2:
            raise _question_error("a {type} question needs at least 2 `options`", self)
        if not choice and self.options:
            raise _question_error("a {type} question has no `options`", self)
        if self.max_choices is not None and self.type != "multiple":
            raise _question_error("`max_choices` is for multiple-choice questions", self)
        if self.max_choices is not None and self.max_choices > len(self.options):
            raise _question_error("`max_choices` is above the number of options", self)
        if (self.scale is not None) != (self.type == "scale"):
            raise _question_error("`scale` goes with `type: scale` (and only there)", self)
        if bool(self.ranges) != (self.type == "number"):
            raise _question_error("`ranges` go with `type: number` (and only there)", self)
        previous = None
        for r in self.ranges:
            if r.max is not None and r.max < r.min:
                raise _question_error(f"the range {r.min}-{r.max} ends before it starts", self)
            if previous is not None and (previous.max is None or r.min != previous.max + 1):
                raise _question_error(
                    f"the range starting at {r.min} does not follow the one before it "
                    f"(ranges go upward without gaps: the next starts at the last max + 1)",
                    self,
                )
            previous = r
        keys = [o.key for o in self.options]
        if len(set(keys)) != len(keys):
            raise _question_error("two options share a key", self)
        return self

    def cap(self) -> int:
        return self.max_choices or len(self.options)

    def bounds(self) -> tuple[int, int]:
        """The numbers a scale or number question takes."""
        if self.scale is not None:
            return self.scale.min, self.scale.max
        last = self.ranges[-1].max
        return self.ranges[0].min, 1_000_000 if last is None else last


def _question_error(message: str, question: Question) -> PydanticCustomError:
    return PydanticCustomError(
        "question",
        "question '{key}': " + message.replace("{type}", question.type),
        {"key": question.key},
    )


class Outcome(Strict):
    key: Key
    title: Text
    body: LongText


class Category(Strict):
    key: Key
    title: Text
    fix: Text  # the one fix shown when this category is the weakest
    fix_by_tier: dict[Key, Text] = Field(default_factory=dict)  # ...or this, for a tier


class Tier(Strict):
    """A band of the score in percent: from `from` (included) to `to` (excluded; 100 is
    included in the last tier)."""

    key: Key
    from_: Annotated[int, Field(alias="from", ge=0, le=100)]
    to: Annotated[int, Field(ge=0, le=100)]
    title: Text
    body: LongText
    cta: Annotated[str, Field(min_length=1, max_length=80)] | None = None  # its next step's label


class Quiz(StepBase):
    kind: Literal["quiz"]
    categories: Annotated[list[Category], Field(max_length=12)] = Field(default_factory=list)
    tiers: Annotated[list[Tier], Field(max_length=10)] = Field(default_factory=list)
    outcomes: Annotated[list[Outcome], Field(max_length=20)] = Field(default_factory=list)
    questions: Annotated[list[Question], Field(min_length=1, max_length=40)]
    result_by_email: bool = True
    gate: bool = False  # the result is shown after a one-field email ask (and sent there)

    @field_validator("tiers")
    @classmethod
    def _tiers_cover_0_to_100(cls, tiers: list[Tier]) -> list[Tier]:
        reach = 0
        for tier in tiers:
            if tier.from_ != reach:
                what = "a gap" if tier.from_ > reach else "an overlap"
                raise PydanticCustomError(
                    "tiers",
                    "tier '{key}' starts at {start} % but the tiers before it end at {reach} %: "
                    "{what}; tiers go upward from 0 to 100, each starting where the last ends",
                    {"key": tier.key, "start": tier.from_, "reach": reach, "what": what},
                )
            if tier.to <= tier.from_:
                raise PydanticCustomError(
                    "tiers", "tier '{key}' ends before it starts", {"key": tier.key}
                )
            reach = tier.to
        if tiers and reach != 100:
            raise PydanticCustomError(
                "tiers",
                "the last tier ends at {reach} %; tiers must reach 100 %",
                {"reach": reach},
            )
        return tiers

    @field_validator("questions")
    @classmethod
    def _questions_name_what_exists(cls, questions: list[Question], info) -> list[Question]:
        categories = {c.key for c in info.data.get("categories", [])}
        keys = [q.key for q in questions]
        for question in questions:
            if keys.count(question.key) > 1:
                raise PydanticCustomError(
                    "quiz_questions", "two questions share the key '{key}'", {"key": question.key}
                )
            if question.category is not None and question.category not in categories:
                raise PydanticCustomError(
                    "quiz_category",
                    "question '{q}' counts toward unknown category '{c}'; categories are: "
                    "{known}",
                    {"q": question.key, "c": question.category,
                     "known": ", ".join(sorted(categories)) or "none"},
                )  # fmt: skip
        return questions

    @model_validator(mode="after")
    def _outcomes_or_tiers(self) -> "Quiz":
        if bool(self.outcomes) == bool(self.tiers):
            raise PydanticCustomError(
                "quiz_result",
                "give `outcomes` (the highest total wins) or `tiers` (a score in percent), "
                "not both",
                {},
            )
        if self.categories and not self.tiers:
            raise PydanticCustomError(
                "quiz_result", "`categories` belong to a scored quiz: add `tiers`", {}
            )
        tiers = {t.key for t in self.tiers}
        for category in self.categories:
            unknown = set(category.fix_by_tier) - tiers
            if unknown:
                raise PydanticCustomError(
                    "quiz_category",
                    "category '{c}': `fix_by_tier` names unknown tier(s) {u}",
                    {"c": category.key, "u": ", ".join(sorted(unknown))},
                )
        return self

    @model_validator(mode="after")
    def _scores_name_outcomes(self) -> "Quiz":
        outcomes = {o.key for o in self.outcomes}
        for question in self.questions:
            for option in question.options:
                unknown = set(option.scores) - outcomes
                if unknown:
                    raise PydanticCustomError(
                        "quiz_scores",
                        "question '{q}', option '{o}' scores unknown outcome(s) {u}; "
                        "outcomes are: {known}",
                        {
                            "q": question.key,
                            "o": option.key,
                            "u": ", ".join(sorted(unknown)),
                            "known": ", ".join(sorted(outcomes)),
                        },
                    )
        return self

    def scored(self) -> bool:
        return bool(self.tiers)

    def asked_fields(self) -> list[AskedField]:
        fields = list(self.ask.fields)
        if self.gate and not any(f.key == "email" for f in fields):
            fields.append(AskedField.model_validate("email"))
        return fields

    def results(self) -> list[Outcome | Tier]:
        """What a visitor can end with: the tiers of a scored quiz, else its outcomes."""
        return list(self.tiers or self.outcomes)


class Poll(StepBase):
    kind: Literal["poll"]
    question: Text
    options: Annotated[list[Option], Field(min_length=2, max_length=8)]
    show_tally: bool = True


def _timezone(value: str) -> str:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone",
            "unknown time zone '{value}'; use an IANA name such as Europe/Berlin",
            {"value": value},
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_timezone)]


class Session(Strict):
    start: dt.datetime
    timezone: TimeZone
    duration: Annotated[int, Field(gt=0, le=1440, description="minutes")] = 60
    capacity: Annotated[int, Field(gt=0, le=1_000_000)] | None = None
    every: Duration | None = None  # a repeating session: the page offers its next dates

    @model_validator(mode="after")
    def _repeat_after_the_end(self) -> "Session":
        if self.every is not None and self.every < dt.timedelta(minutes=self.duration):
            raise PydanticCustomError(
                "session_every", "`every` must be at least the session's `duration`", {}
            )
        return self


class Event(StepBase):
    kind: Literal["event"]
    sessions: Annotated[list[Session], Field(min_length=1, max_length=100)]
    join_url: Annotated[str, Field(max_length=2000)] | None = None
    replay_url: Annotated[str, Field(max_length=2000)] | None = None
    reminders: list[Duration] = Field(
        default_factory=lambda: [dt.timedelta(hours=24), dt.timedelta(hours=1)]
    )
    one_to_one: bool = False
    # Attending (the join link, or staff's mark) is a rung of the report: the one after this
    # step, or the conversion when this is the macro step (docs/analytics.md).
    attended: bool = False


WINDOW_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _window(value: Any) -> str:
    if not isinstance(value, str) or not WINDOW_RE.match(value.replace(" ", "")):
        raise PydanticCustomError(
            "window",
            "expected a time window such as \"09:00-12:30\" (quoted), got '{value}'",
            {"value": value},
        )
    start, end = value.replace(" ", "").split("-")
    if start >= end:
        raise PydanticCustomError(
            "window", "the window '{value}' ends before it starts", {"value": value}
        )
    return value.replace(" ", "")


TimeWindow = Annotated[str, BeforeValidator(_window)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Agenda(Strict):
    will: Annotated[list[Text], Field(min_length=1, max_length=10)]
    will_not: Annotated[list[Text], Field(default_factory=list, max_length=10)]


class BusySource(Strict):
    """A host's own calendar, whose busy times block slots: an ICS feed or a CalDAV calendar
    (its password from an environment variable: secrets stay out of funnel files)."""

    ics: Annotated[str, Field(pattern=r"^https?://", max_length=2000)] | None = None
    caldav: Annotated[str, Field(pattern=r"^https?://", max_length=2000)] | None = None
    user: Text | None = None
    password_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    # A source that fails keeps its last good read this long; after that the host offers no
    # slot it cannot check.
    stale_after: Duration = dt.timedelta(hours=1)

    @model_validator(mode="after")
    def _one(self) -> "BusySource":
        if (self.ics is None) == (self.caldav is None):
            raise PydanticCustomError("busy_source", "give exactly one of `ics` or `caldav`")
        return self


class Host(Strict):
    name: Text
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
    location: Text | None = None  # this host's place, instead of the step's
    busy: BusySource | None = None


# Where a call happens: a video link (with `{booking}`, one made per booking), a phone number
# or an address; shown on the page, in both emails and in the .ics.


class Booking(StepBase):
    kind: Literal["booking"]
    duration: Annotated[int, Field(gt=0, le=480, description="minutes")] = 15
    timezone: TimeZone
    availability: dict[Weekday, list[TimeWindow]]
    exceptions: list[dt.date] = Field(default_factory=list, max_length=366)
    buffer_before: Annotated[int, Field(ge=0, le=240)] = 0
    buffer_after: Annotated[int, Field(ge=0, le=240)] = 5
    notice: Duration = dt.timedelta(hours=4)
    horizon: Duration = dt.timedelta(days=14)
    agenda: Agenda
    hosts: Annotated[list[Host], Field(min_length=1, max_length=50)]
    location: Text | None = None
    reminders: list[Duration] = Field(
        default_factory=lambda: [dt.timedelta(hours=24), dt.timedelta(hours=1)]
    )
    attended: bool = False  # the call having happened is a rung, as on an event step


class Unlock(Strict):
    when: Literal["shared", "referrals"] = "shared"
    count: Annotated[int, Field(ge=1, le=1000)] = 1


class Share(StepBase):
    kind: Literal["share"]
    message: Text
    unlock: Unlock = Field(default_factory=Unlock)
    unlocks: LongText


class Payment(BaseModel):
    """One charge of an offer's schedule: `after` the yes, `amount` in major units."""

    model_config = ConfigDict(frozen=True)
    after: dt.timedelta
    amount: Decimal
    label: str


class Trial(Strict):
    days: Annotated[int, Field(ge=1, le=365)]
    price: Money = Decimal(0)


class Instalments(Strict):
    count: Annotated[int, Field(ge=2, le=60)]
    amount: Money
    every: Duration = dt.timedelta(days=30)


class Phase(Strict):
    amount: Money
    after: Duration = dt.timedelta(0)
    label: Text | None = None


class Guarantee(Strict):
    days: Annotated[int, Field(ge=1, le=3650)] | None = None
    terms: Text | None = None


class Cancellation(Strict):
    # During a trial "Cancel" always stops every later charge; after it (or from the first
    # payment, with no trial) only when the offer says so.
    after_trial: bool = False


class Offer(StepBase):
    kind: Literal["offer"]
    type: Literal["product", "trial", "pilot", "plan"] = "product"
    price: Money | None = None
    trial: Trial | None = None
    instalments: Instalments | None = None
    phases: Annotated[list[Phase], Field(min_length=1, max_length=24)] | None = None
    guarantee: Guarantee | None = None
    cancel: Cancellation = Field(default_factory=Cancellation)
    # A later charge that fails is tried again this long after it was due, once for each.
    retries: Annotated[list[Duration], Field(max_length=10)] = Field(
        default_factory=lambda: [dt.timedelta(days=d) for d in (1, 3, 5)]
    )
    includes: list[Text] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _one_plan(self) -> "Offer":
        plans = [name for name in ("price", "instalments", "phases") if getattr(self, name)]
        if len(plans) != 1 and not (self.trial and not plans):
            raise PydanticCustomError(
                "offer_plan",
                "give exactly one of `price` (one payment), `instalments` or `phases`, "
                "optionally after a `trial`; found: {found}",
                {"found": ", ".join(plans) or "none"},
            )
        return self

    def payments(self) -> list[Payment]:
        start = dt.timedelta(0)
        schedule: list[Payment] = []
        if self.trial:
            schedule.append(
                Payment(after=start, amount=self.trial.price, label=f"{self.trial.days}-day trial")
            )
            start = dt.timedelta(days=self.trial.days)
        if self.price is not None:
            schedule.append(Payment(after=start, amount=self.price, label="price"))
        if self.instalments:
            n = self.instalments.count
            schedule += [
                Payment(
                    after=start + i * self.instalments.every,
                    amount=self.instalments.amount,
                    label=f"instalment {i + 1} of {n}",
                )
                for i in range(n)
            ]
        for i, phase in enumerate(self.phases or []):
            schedule.append(
                Payment(
                    after=start + phase.after,
                    amount=phase.amount,
                    label=phase.label or f"phase {i + 1}",
                )
            )
        return schedule


class Checkout(StepBase):
    kind: Literal["checkout"]
    offer: Key | None = None  # completes the order of this offer step
    price: Money | None = None  # a purchase of its own
    counts_when: Literal["paid", "trial_converted", "paid_in_full"] = "paid"

    @model_validator(mode="after")
    def _offer_or_price(self) -> "Checkout":
        if (self.offer is None) == (self.price is None):
            raise PydanticCustomError(
                "checkout",
                "give `offer` (the offer step whose order this completes) "
                "or `price` (a purchase of its own), not both",
                {},
            )
        return self

    def payments(self) -> list[Payment]:
        return (
            []
            if self.price is None
            else [Payment(after=dt.timedelta(0), amount=self.price, label="price")]
        )


Step = Annotated[
    Content
    | Video
    | Optin
    | Form
    | Magnet
    | Quiz
    | Poll
    | Event
    | Booking
    | Share
    | Offer
    | Checkout,
    Field(discriminator="kind"),
]


# --- the funnel ------------------------------------------------------------------------------


class LintSettings(Strict):
    disable: list[Annotated[str, Field(pattern=r"^YL\d{3}$")]] = Field(default_factory=list)
    max_jump: Annotated[float, Field(gt=0, le=100)] = 6.0
    stagnation: Annotated[int, Field(ge=2, le=20)] = 3


class Benchmark(Strict):
    """The expected conversion from the previous step, in percent (seed 003's ranges)."""

    low: Annotated[float, Field(ge=0, le=100)]
    high: Annotated[float, Field(ge=0, le=100)]

    @model_validator(mode="after")
    def _ordered(self) -> "Benchmark":
        if self.low > self.high:
            raise PydanticCustomError("benchmark", "`low` must not be above `high`", {})
        return self


class Exclusion(Strict):
    """An event that takes a person out of the funnel's report (a refund, a staff test)."""

    event: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
    label: Annotated[str, Field(min_length=1, max_length=200)] | None = None

    @field_validator("event")
    @classmethod
    def _known_event(cls, value: str) -> str:
        if value not in set(EventName):
            raise PydanticCustomError(
                "exclude_event",
                "unknown event '{value}'; a tracked call's own name goes in `label` with "
                "event: tracked",
                {"value": value},
            )
        return value


class FunnelSpec(Strict):
    funnel: Key
    name: Text
    description: LongText | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    window: Duration = dt.timedelta(days=14)
    audience: Literal["cold", "warm"] = "cold"
    double_optin: bool = False
    lint: LintSettings = Field(default_factory=LintSettings)
    benchmarks: dict[Key, Benchmark] = Field(default_factory=dict)
    exclude: Annotated[list[Exclusion], Field(max_length=20)] = Field(default_factory=list)
    steps: Annotated[list[Step], Field(min_length=1, max_length=40)]
    emails: Annotated[dict[Key, Email], Field(max_length=200)] = Field(default_factory=dict)
    automations: Annotated[list[Automation], Field(max_length=50)] = Field(default_factory=list)
    scoring: Scoring = Field(default_factory=Scoring)
    segments: Segments = Field(default_factory=dict)
    experiments: Annotated[list[Experiment], Field(max_length=10)] = Field(default_factory=list)
    team: Annotated[
        list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]],
        Field(max_length=20),
    ] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_keys_and_money(self) -> "FunnelSpec":
        seen: set[str] = set()
        for step in self.steps:
            if step.key in seen:
                raise PydanticCustomError(
                    "duplicate_step",
                    "two steps share the key '{key}'; step keys must be unique",
                    {"key": step.key},
                )
            seen.add(step.key)
            for payment in step.payments():
                if payment.amount != payment.amount.quantize(
                    Decimal(1).scaleb(-currency_exponent(self.currency))
                ):
                    raise PydanticCustomError(
                        "money_precision",
                        "step '{key}': {amount} has more decimals than {cur} allows",
                        {"key": step.key, "amount": str(payment.amount), "cur": self.currency},
                    )
        return self

    @model_validator(mode="after")
    def _entry_and_macro_are_rungs(self) -> "FunnelSpec":
        for step in self.steps:
            if step.optional and (step is self.steps[0] or step.macro):
                raise PydanticCustomError(
                    "optional_step",
                    "step '{key}' cannot be optional: the entry step and the macro step are "
                    "rungs every report counts",
                    {"key": step.key},
                )
            if step.optional and getattr(step, "attended", False):
                raise PydanticCustomError(
                    "optional_attended",
                    "step '{key}' is optional, so its `attended` cannot be a rung: "
                    "remove `attended: true` or `optional: true`",
                    {"key": step.key},
                )
        return self

    @model_validator(mode="after")
    def _benchmarks_name_steps(self) -> "FunnelSpec":
        unknown = set(self.benchmarks) - {s.key for s in self.steps}
        if unknown:
            raise PydanticCustomError(
                "benchmark_step",
                "`benchmarks` names unknown step(s) {unknown}; use step keys",
                {"unknown": ", ".join(sorted(unknown))},
            )
        return self

    @model_validator(mode="after")
    def _automations_name_what_exists(self) -> "FunnelSpec":
        keys = [a.key for a in self.automations]
        twice = {k for k in keys if keys.count(k) > 1}
        if twice:
            raise PydanticCustomError(
                "duplicate_automation",
                "two automations share the key '{key}'",
                {"key": sorted(twice)[0]},
            )
        steps = {s.key for s in self.steps}
        segments = set(self.segments) | set(BUILTIN_SEGMENTS)
        for automation in self.automations:
            for name, known, named in (
                ("step", steps, automation_steps(automation)),
                ("segment", segments, automation_segments(automation)),
                ("email", set(self.emails), automation_emails(automation)),
            ):
                unknown = named - known
                if unknown:
                    raise PydanticCustomError(
                        "automation_reference",
                        "automation '{key}' names unknown {name}(s) {unknown}; known: {known}",
                        {
                            "key": automation.key,
                            "name": name,
                            "unknown": ", ".join(sorted(unknown)),
                            "known": ", ".join(sorted(known)) or "none",
                        },
                    )
        for key, condition in self.segments.items():
            unknown = condition.segments() - segments
            if unknown or key in condition.segments():
                raise PydanticCustomError(
                    "segment_reference",
                    "segment '{key}' names unknown or its own segment(s) {unknown}",
                    {"key": key, "unknown": ", ".join(sorted(unknown or {key}))},
                )
        return self

    @model_validator(mode="after")
    def _experiments_have_keys(self) -> "FunnelSpec":
        keys = [e.key for e in self.experiments]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise PydanticCustomError(
                "duplicate_experiment", "two experiments share the key '{key}'", {"key": twice[0]}
            )
        return self

    def experiment(self, key: str) -> Experiment | None:
        return next((e for e in self.experiments if e.key == key), None)

    def step(self, key: str) -> StepBase | None:
        return next((s for s in self.steps if s.key == key), None)

    def ladder(self) -> list[StepBase]:
        """The rungs a report counts in order: every step not marked optional."""
        return [s for s in self.steps if not s.optional]

    def targets(self, step: StepBase) -> list[str]:
        """Every step key `step` can lead to; a missing `next` leads to the following step."""
        if not step.next_is_explicit():
            position = self.steps.index(step) + 1
            return [self.steps[position].key] if position < len(self.steps) else []
        if step.next is None:
            return []
        if isinstance(step.next, str):
            return [step.next]
        return [route.step for route in step.next]

    def route(self, step: StepBase, outcome: str = "", answers: dict | None = None) -> str | None:
        """The step a visitor goes to after `step`, given their quiz outcome and answers."""
        if not isinstance(step.next, list):
            targets = self.targets(step)
            return targets[0] if targets else None
        answers = answers or {}
        for route in step.next:
            when = route.when
            if when is None or (when.outcome is not None and when.outcome == outcome):
                return route.step
            if when.answer is not None and answers.get(when.answer.question) == when.answer.option:
                return route.step
        return None


def automation_steps(automation: Automation) -> set[str]:
    named = set()
    when = automation.when
    if when.did and when.did.step:
        named.add(when.did.step)
    if when.session:
        named.add(when.session.step)
    for condition in _conditions(automation):
        named |= condition.steps()
    for _, action in automation.actions():
        if action.invite:
            named.add(action.invite.step)
    return named


def automation_segments(automation: Automation) -> set[str]:
    named = {automation.when.segment} if automation.when.segment else set()
    return named.union(*(c.segments() for c in _conditions(automation)))


def automation_emails(automation: Automation) -> set[str]:
    return {a.email or a.invite.email for _, a in automation.actions() if a.email or a.invite}


def _conditions(automation: Automation) -> list:
    found = [c for c in (automation.only, *automation.exit) if c is not None]
    return found + [a.branch.if_ for _, a in automation.actions() if a.branch]
