"""What an event means for a ladder: the one rulebook both engines count by.

The embedded counter (analytics.progress) and the ClickHouse shipping (warehouse) import these
rules rather than each other: who a person is, which rung an event reaches, whether it gave an
email, engaged or moved money, and the time scale they are counted on. Pure: plain values in
(an event is anything with `name`, `step_key`, `properties` and `label`), no Django, no I/O.
"""

import datetime as dt
from dataclasses import dataclass

from yesladder.events import EventName
from yesladder.funnels.spec.schema import FunnelSpec

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CONVERTED_RUNG = "converted"
ENGAGED_VIDEO_PERCENT = 80  # seed 003: "prospects who watch 80% of a video..."
ENGAGED_READ_SECONDS = 300  # "... or spend five minutes reading a guide"
ARRIVALS = frozenset({EventName.STEP_VIEWED, EventName.STEP_COMPLETED})
REVENUE = {EventName.PAID: 1, EventName.INSTALMENT_PAID: 1, EventName.REFUNDED: -1}
# The events whose properties gave_email, engaged and the revenue read: every other event's
# flags follow from its name alone (the ClickHouse shipper reads no other properties).
PROPERTIES_READ = frozenset({
    EventName.FIELDS_GIVEN, EventName.VIDEO_PROGRESS, EventName.READ_PROGRESS,
    EventName.QUIZ_COMPLETED, *REVENUE,
})  # fmt: skip


def person(lead_id: int | None, visitor_hex: str) -> str:
    """Who is counted: a lead (every device of theirs) once they gave their email, else the
    anonymous visitor (its id's hex). Progress rows, exposures and the store key people so."""
    return f"l{lead_id}" if lead_id else f"v{visitor_hex}"


def lead_of(person_key: str) -> int | None:
    """The lead a person key names, None for an anonymous visitor."""
    return int(person_key[1:]) if person_key.startswith("l") else None


def micros(when: dt.datetime) -> int:
    """Microseconds since 1970 (UTC): the time scale climbs, windows and the store count on."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=value)


def gave_email(name: str, properties: dict) -> bool:
    """Opted in on one of the funnel's steps: its opt-in, or a magnet, quiz or form that asked
    for the address, or an `identify` from a tracked page of the funnel."""
    if name in (EventName.OPTED_IN, EventName.IDENTIFIED):
        return True
    return name == EventName.FIELDS_GIVEN and properties.get("email") is True


def engaged(name: str, properties: dict) -> bool:
    if name == EventName.VIDEO_PROGRESS:
        return _number(properties.get("percent")) >= ENGAGED_VIDEO_PERCENT
    if name == EventName.READ_PROGRESS:
        return _number(properties.get("seconds")) >= ENGAGED_READ_SECONDS
    return False


def revenue(name: str, properties: dict) -> int:
    """Money the event moved, in minor units: payments in, refunds out."""
    sign = REVENUE.get(name)
    amount = properties.get("amount")
    return sign * amount if sign and isinstance(amount, int) else 0


def flags(name: str, properties: dict) -> tuple[int, int, int]:
    """Opted in, engaged and revenue of one event, as both engines count them."""
    properties = properties or {}
    return (
        int(gave_email(name, properties)),
        int(engaged(name, properties)),
        revenue(name, properties),
    )


def tier(name: str, properties: dict) -> str | None:
    """The tier a scored quiz's result puts its person in (`--by tier`: their latest), None
    when the event says nothing of a tier."""
    if name != EventName.QUIZ_COMPLETED or "score" not in (properties or {}):
        return None
    found = properties.get("tier")
    return found[:200] if isinstance(found, str) and found else None


def _number(value) -> float:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0


# The event that says a person came to a step's call or session (docs/analytics.md).
ATTENDANCE = {"booking": EventName.CALL_ATTENDED, "event": EventName.ATTENDED}


@dataclass(frozen=True)
class Rung:
    """One rung of a report: a step (reached by arriving at it) or an event of a step (the
    macro step's conversion, a call or session attended)."""

    key: str
    title: str
    event: str | None = None
    step: str | None = None


def rungs_of(spec: FunnelSpec) -> list[Rung]:
    """The spec's ladder as analytics counts it: each step, then its attendance when the step
    says `attended` (the rung after the call or session), then `converted` when it has a macro
    step (paying is a rung above seeing the checkout). A macro step's attendance is its
    conversion: the `converted` event is recorded at the booking, before anyone can attend."""
    found: list[Rung] = []
    for step in spec.ladder():
        found.append(Rung(step.key, step.title))
        if not step.macro and getattr(step, "attended", False):
            found.append(Rung(f"{step.key}:attended", f"Attended: {step.title}",
                              ATTENDANCE[step.kind], step.key))  # fmt: skip
    macro = next((s for s in spec.steps if s.macro), None)
    if macro is not None:
        if getattr(macro, "attended", False):
            title, event = f"Converted: attended {macro.title}", ATTENDANCE[macro.kind]
        else:
            title, event = f"Converted: {macro.title}", EventName.CONVERTED
        found.append(Rung(CONVERTED_RUNG, title, event, macro.key))
    return found


def step_rungs(spec: FunnelSpec) -> tuple[list[Rung], int]:
    """The rungs below the conversion, and the index of the macro step among them (the last
    rung when there is none): what an experiment compares its variants on."""
    rungs = [r for r in rungs_of(spec) if r.key != CONVERTED_RUNG]
    macro = next((s.key for s in spec.steps if s.macro), None)
    keys = [r.key for r in rungs]
    return rungs, keys.index(macro) if macro in keys else len(rungs) - 1


@dataclass(frozen=True)
class Ladder:
    """A version's rungs as analytics counts them (`rungs_of`): keys, and the events that
    reach a rung by their name and step rather than by an arrival."""

    version_id: int
    funnel_id: int
    rungs: tuple[str, ...]
    named: tuple[tuple[str, str, int], ...]  # (event name, step key, rung)
    optional: tuple[str, ...]
    exclusions: tuple[tuple[str, str | None], ...]
    window: int  # microseconds

    @classmethod
    def of(cls, version_id: int, funnel_id: int, spec: FunnelSpec) -> "Ladder":
        rungs = rungs_of(spec)
        return cls(
            version_id=version_id, funnel_id=funnel_id, rungs=tuple(r.key for r in rungs),
            named=tuple((r.event, r.step, i) for i, r in enumerate(rungs) if r.event),
            optional=tuple(s.key for s in spec.steps if s.optional),
            exclusions=tuple((e.event, e.label) for e in spec.exclude),
            window=int(spec.window.total_seconds() * 1_000_000),
        )  # fmt: skip

    def rung(self, event) -> int | None:
        """The rung this event reaches: seeing or completing a step (a click or a milestone on
        a step is not a new arrival there), paying for the macro step, or attending a step's
        call or session when that is a rung."""
        if event.name in ARRIVALS:
            return self.position(event)
        return next((i for name, step, i in self.named
                     if event.name == name and event.step_key == step), None)  # fmt: skip

    def position(self, event) -> int | None:
        key = event.step_key
        return self.rungs.index(key) if key and key in self.rungs else None

    def excludes(self, event) -> bool:
        return any(event.name == name and (label is None or event.label == label)
                   for name, label in self.exclusions)  # fmt: skip

    def needs_recount(self, event) -> bool:
        """Optional steps and exclusions are judged against the final chain's window."""
        return bool(event.step_key in self.optional or self.excludes(event))
