"""Money and time: no payment before trust, a short first call, a guarantee with a window
(YL008, YL013, YL014).
"""

from collections.abc import Iterator

from yesladder.funnels.cost import charges_money
from yesladder.funnels.lint.core import ERROR, Finding, Ladder, rule
from yesladder.funnels.spec.schema import (
    Booking,
    Event,
    Offer,
    StepBase,
)


@rule("YL008", "early-payment", ERROR, "003, 001",
      "Money is asked before the visitor got value from an earlier step.")  # fmt: skip
def early_payment(ladder: Ladder) -> Iterator[Finding]:
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            if charges_money(rung.step) and not rung.value_before:
                yield ladder.finding(
                    rung.step,
                    "asks for money before any earlier step delivered value",
                    "put a free step that delivers value (a guide, a checklist, a quiz result) "
                    "before the first payment",
                )


@rule("YL013", "long-first-call", ERROR, "003",
      "A call longer than 30 minutes before any other value was delivered.")  # fmt: skip
def long_first_call(ladder: Ladder) -> Iterator[Finding]:
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            minutes = _call_minutes(rung.step)
            if minutes > 30 and not rung.value_before:
                yield ladder.finding(
                    rung.step,
                    f"a {minutes}-minute call before the visitor got any value",
                    "time-box the first human step to 15 minutes (seed 003) and deliver value "
                    "before it",
                    "duration",
                )


def _call_minutes(step: StepBase) -> int:
    if isinstance(step, Booking):
        return step.duration
    if isinstance(step, Event) and step.one_to_one:
        return max(s.duration for s in step.sessions)
    return 0


@rule("YL014", "unbounded-guarantee", ERROR, "003",
      "A money-back guarantee without a time window.")  # fmt: skip
def unbounded_guarantee(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Offer) and step.guarantee and step.guarantee.days is None:
            yield ladder.finding(
                step,
                "the money-back guarantee has no time window",
                "give it a window, e.g. `guarantee: {days: 30}` (seed 003: 30 or 60 days)",
                "guarantee",
            )
