"""What the tracking API writes, one Row per valid Segment message: its event name (a step action
when it names a funnel and step), bounded properties, corrected time, bot flag, and the values
of the INSERT adapted before the writer lock is taken. Reads only: a message that names a
funnel, step or email that cannot be is rejected here, before anything is written.
"""

import uuid
from dataclasses import dataclass, field

from django.db import connection

from yesladder.events import EventName
from yesladder.funnels import scoring
from yesladder.funnels.models import UnknownFunnel, current_version
from yesladder.funnels.spec.schema import Quiz
from yesladder.leads.bots import is_bot
from yesladder.leads.services import (
    UTM_FIELDS,
    InvalidEmail,
    normalise_email,
)
from yesladder.tracking.models import Site
from yesladder.tracking.segment import Message, Parsed, Rejected, occurred_at
from yesladder.tracking.services import bounded

# What a tracked site may say a visitor did on a step that lives on its pages. Money and
# consent are not in the list: those only ever come from yesladder's own pages and providers.
STEP_ACTIONS = frozenset(
    {
        EventName.STEP_VIEWED, EventName.CTA_CLICKED, EventName.STEP_COMPLETED,
        EventName.VIDEO_PROGRESS, EventName.READ_PROGRESS, EventName.DOWNLOADED,
        EventName.SHARED, EventName.ANSWERED, EventName.POLL_ANSWERED, EventName.REGISTERED,
        EventName.ATTENDED, EventName.BOOKED, EventName.CANCELLED, EventName.CHECKOUT_STARTED,
        EventName.QUIZ_COMPLETED,
    }
)  # fmt: skip
NAMES = {
    "identify": EventName.IDENTIFIED, "page": EventName.PAGE_VIEWED,
    "screen": EventName.SCREEN_VIEWED, "group": EventName.GROUPED, "alias": EventName.ALIASED,
}  # fmt: skip
CHUNK = 500  # rows per INSERT: well under SQLite's 32,766 parameters


@dataclass(frozen=True)
class Received:
    """Where a request came from, as the API saw it."""

    site: Site
    at: object  # the server's receive time (aware datetime)
    user_agent: str  # the browser's, when a browser sent it; "" from server-side libraries
    address: str | None


# The event's columns known before the writer lock is taken (Row.stored, in this order).
STORED_COLUMNS = ("message_id", "name", "label", "site", "step_key", "properties", "occurred_at",
                  "future_timestamp")  # fmt: skip


@dataclass(frozen=True)
class JourneyRef:
    """A journey as the write path needs it: which one, in which version. The whole row is
    read only for the rare message that moves it on (a completed step)."""

    id: int
    version_id: int


@dataclass
class Row:
    index: int
    message: Message
    message_id: str
    name: str
    label: str
    properties: dict
    occurred_at: object
    future: bool
    funnel: str = ""
    step_key: str = ""
    email: str = ""
    journey: JourneyRef | None = field(default=None, repr=False)
    # STORED_COLUMNS, adapted for the INSERT before the writer lock: it is held for SQL only.
    stored: tuple = field(default=(), repr=False)
    bot: bool = False  # by this message's own user agent


def prepare(received: Received, parsed: Parsed) -> tuple[list[Row], list[Rejected]]:
    """Turn valid messages into rows; reject those that name a funnel, step or email that
    cannot be (reads only: nothing is written before every message has been looked at)."""
    rows, rejected = [], list(parsed.rejected)
    for index, message in parsed.messages:
        try:
            rows.append(_row(received, index, message))
        except _Reject as exc:
            rejected.append(Rejected(index, message.messageId, exc.field, exc.message))
    return rows, sorted(rejected, key=lambda r: r.index)


class _Reject(Exception):
    def __init__(self, field_name: str, message: str):
        self.field, self.message = field_name, message


def _row(received: Received, index: int, message: Message) -> Row:
    when, future = occurred_at(received.at, message.timestamp, message.sentAt)
    row = Row(
        index=index,
        message=message,
        message_id=f"{received.site.pk}:{message.messageId or uuid.uuid4().hex}",
        name=NAMES.get(message.type, EventName.TRACKED),
        label=(message.event or message.name or "")[:200],
        properties=bounded(_properties(message)),
        occurred_at=when,
        future=future,
    )
    if message.type == "track":
        _step_action(row, message)
    if message.type == "identify" and message.traits.get("email") not in (None, ""):
        try:
            row.email = normalise_email(str(message.traits["email"]))
        except InvalidEmail as exc:
            raise _Reject("traits.email", str(exc)) from None
    ops = connection.ops
    row.stored = (row.message_id, row.name, row.label, received.site.pk, row.step_key,
                  ops.adapt_json_value(row.properties, None),
                  ops.adapt_datetimefield_value(row.occurred_at), row.future)  # fmt: skip
    row.bot = is_bot_message(received, message)
    return row


def _properties(message: Message) -> dict:
    if message.type in ("identify", "group"):
        return {**message.traits, **({"groupId": message.groupId} if message.groupId else {})}
    if message.type == "alias":
        return {"previousId": message.previousId}
    if message.type in ("page", "screen"):
        return {**page_context(message), **message.properties}
    return message.properties


def page_context(message: Message) -> dict:
    page = message.context.get("page") if isinstance(message.context.get("page"), dict) else {}
    campaign = message.context.get("campaign")
    campaign = campaign if isinstance(campaign, dict) else {}
    found = {key: page.get(key) for key in ("url", "path", "referrer", "title") if page.get(key)}
    utm = {f"utm_{'campaign' if k == 'name' else k}": v for k, v in campaign.items()}
    return {**found, **{k: v for k, v in utm.items() if k in UTM_FIELDS and v}}


def _step_action(row: Row, message: Message) -> None:
    """A track call that names a funnel and step is a step action, exactly as on our pages."""
    funnel, step_key = message.properties.get("funnel"), message.properties.get("step")
    if funnel is None and step_key is None:
        return
    if not isinstance(funnel, str) or not isinstance(step_key, str):
        raise _Reject("properties.funnel", "a step action needs both funnel and step, as text")
    try:
        version = current_version(funnel)
    except UnknownFunnel as unknown:
        raise _Reject("properties.funnel", str(unknown)) from None
    if version.spec.step(step_key) is None:
        raise _Reject("properties.step", f"funnel {funnel!r} has no step {step_key[:64]!r}")
    name = message.event.strip().lower().replace(" ", "_")
    row.name = name if name in STEP_ACTIONS else EventName.TRACKED
    row.funnel, row.step_key = funnel, step_key
    if row.name == EventName.QUIZ_COMPLETED:
        step = version.spec.step(step_key)
        score, problem = scoring.reported(step if isinstance(step, Quiz) else None,
                                          message.properties)  # fmt: skip
        if problem:
            raise _Reject("properties.score", problem)
        row.properties = {**row.properties, **score}


def touch_fields(page: dict) -> dict:
    """A visitor's first-touch fields from a page's URL, referrer and UTM tags."""
    return {"landing_url": str(page.get("url", ""))[:2000],
            "referrer": str(page.get("referrer", ""))[:2000],
            **{utm: str(page.get(utm, ""))[:200] for utm in UTM_FIELDS}}  # fmt: skip


def device_user_agent(received: Received, message: Message) -> str:
    """The device's user agent: the library's report of it, else the browser that sent the
    request. A server-side library's own agent says nothing about the visitor."""
    given = message.context.get("userAgent")
    return given if isinstance(given, str) and given else received.user_agent


def is_bot_message(received: Received, message: Message) -> bool:
    user_agent = device_user_agent(received, message)
    return bool(user_agent) and is_bot(user_agent)
