"""The commitment-cost model: how big a step's ask is, in commitment points.

Pure module. The model and the reasons for every weight are in docs/commitment-cost.md; the
linter compares neighbouring steps with it and analytics uses it to explain drop-off.
"""

import math
from dataclasses import dataclass
from decimal import Decimal

from yesladder.funnels import scoring
from yesladder.funnels.spec.schema import (
    AskedField,
    Booking,
    Checkout,
    Event,
    FunnelSpec,
    Offer,
    Quiz,
    Share,
    StepBase,
)
from yesladder.funnels.spec.schema import (
    Form as FormStep,
)

SECONDS_PER_POINT = 30  # half a minute of active effort weighs as much as giving an email
CLICK_SECONDS = 3
MONEY_NOW_WEIGHT = 3.0  # points per tenfold amount charged at the yes
MONEY_LATER_WEIGHT = 1.5  # later charges are committed to, but not paid yet
MONEY_AFTER_TRIAL_WEIGHT = 1.0  # ...and cancelling during a trial means they never are
GUARANTEE_FACTOR = 0.5  # a money-back guarantee takes away half the perceived risk
ONE_TO_ONE_POINTS = 2.0  # being seen and heard by a person
GROUP_LIVE_POINTS = 0.5  # a live session among many
SHARE_POINTS = 2.0  # public exposure to one's own network

# Seconds to take the step itself, before any field is typed (docs/commitment-cost.md).
BASE_SECONDS = {
    "content": CLICK_SECONDS, "video": CLICK_SECONDS, "optin": CLICK_SECONDS,
    "form": 0, "magnet": CLICK_SECONDS, "quiz": 0, "poll": 4, "event": 5,
    "booking": 20, "share": 10, "offer": 20, "checkout": CLICK_SECONDS,
}  # fmt: skip
SECONDS_PER_QUESTION = 5
SECONDS_PER_SCREEN = 2

CARD = AskedField.model_validate("card")


@dataclass(frozen=True)
class CommitmentCost:
    effort_seconds: int  # the whole step
    entry_seconds: int  # its first screen: the size of the first yes
    new_fields: tuple[str, ...]  # personal fields asked that the visitor had not given yet
    effort: float
    data: float
    money: float
    time: float
    exposure: float

    @property
    def total(self) -> float:
        return round(self.effort + self.data + self.money + self.time + self.exposure, 2)

    def largest_part(self) -> str:
        parts = {"effort": self.effort, "personal data": self.data, "money": self.money,
                 "time slot": self.time, "exposure": self.exposure}  # fmt: skip
        return max(parts, key=parts.get)


def charges_money(step: StepBase) -> bool:
    return any(p.amount > 0 for p in step.payments()) or _completes_paid_offer(step)


def _completes_paid_offer(step: StepBase) -> bool:
    return isinstance(step, Checkout) and step.offer is not None


def fields_asked(step: StepBase) -> list[AskedField]:
    """The personal fields a step asks, payment details included when it takes money."""
    fields = step.asked_fields()
    if any(p.amount > 0 for p in step.payments()) and not any(f.key == "card" for f in fields):
        fields.append(CARD)
    return fields


def step_cost(
    step: StepBase, funnel: FunnelSpec, known: frozenset[str] = frozenset()
) -> CommitmentCost:
    """The cost of `step` for a visitor who already gave the fields in `known`."""
    new = [f for f in fields_asked(step) if f.key not in known]
    field_seconds = sum(f.seconds for f in new)
    seconds, entry = _effort(step, field_seconds, known)
    if step.ask.effort is not None:
        one_screen = seconds == entry
        seconds = step.ask.effort
        entry = seconds if one_screen else min(entry, seconds)
    return CommitmentCost(
        effort_seconds=seconds,
        entry_seconds=entry,
        new_fields=tuple(f.key for f in new),
        effort=round(seconds / SECONDS_PER_POINT, 2),
        data=round(sum(f.cost_points() for f in new), 2),
        money=round(_money_points(step, funnel), 2),
        time=round(_time_points(step), 2),
        exposure=SHARE_POINTS if isinstance(step, Share) else 0.0,
    )


def _effort(step: StepBase, field_seconds: int, known: frozenset[str]) -> tuple[int, int]:
    base = BASE_SECONDS[step.kind]
    if isinstance(step, FormStep):
        screens = [
            sum(f.seconds for f in screen.fields if f.key not in known) for screen in step.screens
        ]
        asked = [s for s in screens if s] or [0]
        return sum(asked) + SECONDS_PER_SCREEN * len(asked), asked[0] + SECONDS_PER_SCREEN
    if isinstance(step, Quiz):
        answers = SECONDS_PER_QUESTION * scoring.longest(step)  # the longest path
        return answers + field_seconds, SECONDS_PER_QUESTION
    return base + field_seconds, base + field_seconds


def _money_points(step: StepBase, funnel: FunnelSpec) -> float:
    if isinstance(step, Checkout) and step.offer is not None:
        offer = funnel.step(step.offer)
        later = _later(offer) if isinstance(offer, Offer) else Decimal(0)
        return MONEY_NOW_WEIGHT * _log(later) * _guarantee_factor(offer)
    payments = step.payments()
    now = sum((p.amount for p in payments if not p.after), Decimal(0))
    later_weight = MONEY_AFTER_TRIAL_WEIGHT if getattr(step, "trial", None) else MONEY_LATER_WEIGHT
    points = MONEY_NOW_WEIGHT * _log(now) + later_weight * _log(_later(step))
    return points * _guarantee_factor(step)


def _later(step: StepBase) -> Decimal:
    return sum((p.amount for p in step.payments() if p.after), Decimal(0))


def _log(amount: Decimal) -> float:
    return math.log10(1 + float(amount))


def _guarantee_factor(step: StepBase | None) -> float:
    return GUARANTEE_FACTOR if isinstance(step, Offer) and step.guarantee else 1.0


def _time_points(step: StepBase) -> float:
    if isinstance(step, Booking):
        return step.duration / 15 + ONE_TO_ONE_POINTS
    if isinstance(step, Event):
        minutes = step.sessions[0].duration
        return minutes / 60 + (ONE_TO_ONE_POINTS if step.one_to_one else GROUP_LIVE_POINTS)
    return 0.0


def delivers_value(step: StepBase) -> bool:
    """A step that gives the visitor something before asking for money."""
    return step.value is not None and not charges_money(step)
