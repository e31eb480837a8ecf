"""The Segment tracking spec as yesladder reads it: the wire format of `/v1/track`, `/identify`,
`/page`, `/screen`, `/group`, `/alias` and `/batch`, validated one message at a time so one bad
message never costs the good ones next to it. Pure: no Django, no I/O.
"""

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

MAX_EVENT_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request
MAX_ID = 200
MAX_DEPTH = 32  # levels of objects and lists in one message: more is no event's shape
FUTURE_TOLERANCE = dt.timedelta(hours=23)  # PostHog's: beyond it the client's clock is wrong

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
MessageType = Literal["track", "identify", "page", "screen", "group", "alias"]


def _text_id(value: Any) -> Any:
    """Libraries send numeric user ids as numbers; they are the same ids as text."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Id = Annotated[str, BeforeValidator(_text_id), Field(min_length=1, max_length=MAX_ID)]
IDS = frozenset({"messageId", "anonymousId", "userId", "previousId", "groupId"})
EARLIEST, LATEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def _sane_time(value: dt.datetime) -> dt.datetime:
    """In UTC: ISO 8601 lets a clock say +21:11, which PostgreSQL refuses to store."""
    if not EARLIEST <= _aware(value) < LATEST:
        raise ValueError("a time between 1970 and 2200, like 2026-11-21T10:00:00Z")
    return _aware(value).astimezone(dt.UTC)


Moment = Annotated[dt.datetime, AfterValidator(_sane_time)]


def _object(value: Any) -> Any:
    """Libraries send `null` for an empty properties, traits or context."""
    return {} if value is None else value


Object = Annotated[dict[str, Any], BeforeValidator(_object)]


def _is_object(value: Any) -> bool:
    return value is None or isinstance(value, dict)


class Message(BaseModel):
    """One call of the Segment spec, as each library's dialect writes it, read into one shape
    (`_dialects`). Unknown fields are kept: libraries add their own."""

    model_config = ConfigDict(extra="allow")

    type: MessageType
    messageId: Id | None = None
    anonymousId: Id | None = None
    userId: Id | None = None
    previousId: Id | None = None
    groupId: Id | None = None
    event: str | None = Field(None, min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)
    category: str | None = Field(None, max_length=200)
    properties: Object = Field(default_factory=dict)
    traits: Object = Field(default_factory=dict)
    context: Object = Field(default_factory=dict)
    # The device's clock when it happened: `originalTimestamp` (RudderStack's, Segment's
    # own name for it) where given, else `timestamp`; `sentAt` is on the same clock.
    timestamp: Moment | None = None
    originalTimestamp: Moment | None = None
    sentAt: Moment | None = None

    @model_validator(mode="before")
    @classmethod
    def _dialects(cls, data: Any) -> Any:
        """`type` in any case; an empty id is no id (RudderStack's browser library sends an
        anonymous visitor's `userId` as ""); the user's traits in `context.traits`
        (RudderStack's libraries send identify's traits only there; every library may add them
        to any call): an identify's own `traits` win where both name a trait, a track's or
        page's are the traits of the user it came from. A group's `traits` are the group's,
        never the user's."""
        if not isinstance(data, dict):
            return data
        data = {key: None if key in IDS and value == "" else value for key, value in data.items()}
        if isinstance(data.get("type"), str):
            data["type"] = data["type"].strip().lower()
        context = data.get("context")
        user_traits = context.get("traits") if isinstance(context, dict) else None
        own = data.get("traits")
        if isinstance(user_traits, dict) and data.get("type") != "group" and _is_object(own):
            data["traits"] = {**user_traits, **(own or {})}
        return data

    @model_validator(mode="after")
    def _who(self) -> "Message":
        if self.type == "alias":
            if not (self.previousId and self.userId):
                raise ValueError("alias needs both previousId and userId")
        elif not (self.anonymousId or self.userId):
            raise ValueError("give anonymousId or userId: who did this?")
        if self.type == "track" and not self.event:
            raise ValueError("track needs event: the name of what happened")
        if self.originalTimestamp is not None:
            self.timestamp = self.originalTimestamp
        return self

    @property
    def visitor_key(self) -> str:
        """The id that names this message's visitor within its site."""
        if self.type == "alias":
            return f"user:{self.userId}"
        return self.anonymousId or f"user:{self.userId}"


class BatchBody(BaseModel):
    """The envelope of `/v1/batch` (documentation and the envelope's own checks)."""

    model_config = ConfigDict(extra="allow")

    batch: list[dict[str, Any]] = Field(max_length=10_000)
    sentAt: Moment | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    writeKey: str | None = None


@dataclass(frozen=True)
class Rejected:
    index: int
    message_id: str | None
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"index": self.index, "messageId": self.message_id, "field": self.field,
                "message": self.message}  # fmt: skip


class BadRequest(ValueError):
    """The request as a whole cannot be read; `field` names the part at fault."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Parsed:
    messages: list[tuple[int, Message]]  # (index in the request, message)
    rejected: list[Rejected]


class NotFinite:
    """Where a body said NaN, Infinity or a number too large for a float: Python's JSON reader
    takes them, no database column of JSON can hold them, and they must not reach one."""

    def __repr__(self) -> str:
        return "NaN"


NOT_FINITE = NotFinite()


def loads(raw: bytes) -> Any:
    """A request body as JSON, ready to store: NUL and lone surrogates cleaned, values that are
    not finite numbers marked so the messages holding them can be refused one by one."""

    def number(text: str) -> float | NotFinite:
        value = float(text)
        return value if math.isfinite(value) else NOT_FINITE

    data = json.loads(raw, parse_constant=lambda text: NOT_FINITE, parse_float=number)
    return storable(data) if UNSTORABLE.search(raw) else data


def parse(data: Any, endpoint: str) -> Parsed:
    """Read a request body sent to `/v1/<endpoint>`: one message, or a batch of them."""
    if not isinstance(data, dict):
        raise BadRequest("body", "expected a JSON object")
    if endpoint != "batch":
        return _parse_many([data], None, {}, prefix="", forced_type=endpoint)
    items = data.get("batch")
    if not isinstance(items, list):
        raise BadRequest("batch", "expected a list of messages")
    unstorable = _unstorable(data.get("context"), "context")
    if unstorable:
        raise BadRequest(*unstorable)
    try:
        envelope = BatchBody.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(*_first_error(exc, "")) from None
    return _parse_many(items, envelope.sentAt, envelope.context, prefix="batch")


def _parse_many(
    items: list, sent_at, shared_context: dict, prefix: str, forced_type: str = ""
) -> Parsed:
    """`forced_type`: the endpoint's, for a single message (its own `type` may be absent)."""
    messages, rejected = [], []
    for index, item in enumerate(items):
        unstorable = _unstorable(item, f"{prefix}[{index}]" if prefix else "")
        if unstorable:  # before its size is measured: JSON cannot write it either
            rejected.append(Rejected(index, _message_id(item), *unstorable))
            continue
        where = f"{prefix}[{index}]." if prefix else ""
        problem = _check_raw(item, forced_type)
        if problem:
            rejected.append(Rejected(index, _message_id(item), where.rstrip(".") or "body",
                                     problem))  # fmt: skip
            continue
        try:
            message = Message.model_validate({**item, "type": forced_type or item["type"]})
        except ValidationError as exc:
            field, text = _first_error(exc, where)
            rejected.append(Rejected(index, _message_id(item), field, text))
            continue
        if shared_context:
            message.context = {**shared_context, **message.context}
        if message.sentAt is None and sent_at is not None:
            message.sentAt = sent_at
        messages.append((index, message))
    return Parsed(messages, rejected)


def _check_raw(item: Any, forced_type: str) -> str:
    if not isinstance(item, dict):
        return "expected a JSON object"
    kind = forced_type or item.get("type")
    if not isinstance(kind, str) or kind.strip().lower() not in MESSAGE_TYPES:
        return f"type must be one of {', '.join(MESSAGE_TYPES)}"
    if size(item) > MAX_EVENT_BYTES:
        return f"this message is {size(item):,} bytes; the limit is {MAX_EVENT_BYTES:,}"
    return ""


# NUL, and halves of surrogate pairs, are valid JSON (as escapes, or raw bytes that Python's
# reader lets through) that no database text can hold.
UNSTORABLE = re.compile(rb"\\u(0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]")  # escaped or raw


def storable(value: Any) -> Any:
    """The value with NUL characters dropped and lone surrogates replaced, all the way down."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def _unstorable(value: Any, where: str) -> tuple[str, str] | None:
    """(field, problem) for a value no JSON column can hold: NaN, Infinity or a number
    beyond a float, or nesting deeper than MAX_DEPTH (which would exhaust the stack of whatever
    reads it next). Walked with a list, not recursion, for the same reason."""
    pending = [(value, (where,) if where else (), 0)]
    while pending:
        value, path, depth = pending.pop()
        problem = _problem(value, depth)
        if problem:
            return ".".join(path) or "body", problem
        if isinstance(value, dict):
            pending.extend((child, (*path, key or '""'), depth + 1) for key, child in value.items())
        elif isinstance(value, list):
            pending.extend((child, (*path, str(n)), depth + 1) for n, child in enumerate(value))
    return None


def _problem(value: Any, depth: int) -> str:
    if value is NOT_FINITE:
        return ("NaN, Infinity or a number beyond ±1.8e308 cannot be stored; send null or a "
                "finite number")  # fmt: skip
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        return f"nested more than {MAX_DEPTH} levels deep; send a flatter value"
    return ""


_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def size(item: Any) -> int:
    """A message's size as the libraries measure it: its compact JSON, in bytes."""
    return len(_compact(item).encode())


def _message_id(item: Any) -> str | None:
    value = item.get("messageId") if isinstance(item, dict) else None
    return value[:MAX_ID] if isinstance(value, str) else None


def _first_error(exc: ValidationError, where: str) -> tuple[str, str]:
    error = exc.errors(include_url=False)[0]
    path = ".".join(str(part) for part in error["loc"])
    return (where + path).rstrip(".") or "body", error["msg"].removeprefix("Value error, ")


def occurred_at(
    received_at: dt.datetime, timestamp: dt.datetime | None, sent_at: dt.datetime | None
) -> tuple[dt.datetime, bool]:
    """When it happened, on the server's clock. A device whose clock is off by a year still
    measures the gap between the event and the send right, so the event happened
    (sentAt - timestamp) before we received it (Segment, Snowplow, PostHog). Returns the time
    and whether the client put it more than 23 h in the future (then: the received time)."""
    if timestamp is None:
        return received_at, False
    timestamp = _aware(timestamp)
    when = received_at + (timestamp - _aware(sent_at)) if sent_at is not None else timestamp
    if when - received_at > FUTURE_TOLERANCE:
        return received_at, True
    return when, False


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
