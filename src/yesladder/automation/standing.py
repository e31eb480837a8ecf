"""Engagement: the decaying score, the built-in and custom segments, and whether a condition
holds for a lead. Pure module (no Django): the engine feeds it `Facts`, tests feed it by hand.

The score is the sum, over what the lead did, of its weight halved every `half_life`: a step
completed weighs the step's commitment cost (a bigger yes says more), other events the weights
in the spec's `scoring` (docs/automation.md).
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from yesladder.funnels.spec.automations import Condition, Did, Scoring

PAID = frozenset({"paid", "instalment_paid", "trial_converted"})


@dataclass(frozen=True)
class Seen:
    """One thing the lead did, as conditions see it."""

    name: str
    step: str
    at: dt.datetime
    label: str = ""
    properties: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """What is known about one lead in one funnel at one moment."""

    events: tuple[Seen, ...] = ()
    profile: Mapping = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    score: float = 0.0
    segments: frozenset[str] = frozenset()


def score(events: Iterable[Seen], now: dt.datetime, scoring: Scoring, costs: Mapping) -> float:
    half_life = scoring.half_life.total_seconds()
    total = 0.0
    for seen in events:
        weight = scoring.weight(seen.name)
        if seen.name == "step_completed":
            weight += costs.get(seen.step, 0.0)
        age = max((now - seen.at).total_seconds(), 0.0)
        total += weight * 0.5 ** (age / half_life)
    return round(total, 2)


def segments(facts: Facts, scoring: Scoring, custom: Mapping[str, Condition]) -> frozenset[str]:
    """Built-in segments first; custom ones may name built-ins and each other (one level of
    reference resolved per pass, so a chain of n custom segments settles in n passes)."""
    completed = {s.step for s in facts.events if s.name == "step_completed"}
    bought = any(s.name in PAID for s in facts.events)
    high = facts.score >= scoring.high
    found = {
        "buyers" if bought else "non-buyers",
        "high-engagement" if high else "low-engagement",
    }
    if high and len(completed) >= scoring.qualified_steps:
        found.add("qualified")
    for _ in range(len(custom)):
        known = _with(facts, segments=frozenset(found))
        found = set(found) | {key for key, c in custom.items() if holds(c, known)}
    return frozenset(found)


def holds(condition: Condition, facts: Facts) -> bool:
    """Every part of the condition that is given must hold."""
    checks = (
        condition.did is None or did(condition.did, facts),
        condition.did_not is None or not did(condition.did_not, facts),
        condition.segment is None or condition.segment in facts.segments,
        condition.not_segment is None or condition.not_segment not in facts.segments,
        condition.tag is None or condition.tag in facts.tags,
        condition.score is None or condition.score.holds(facts.score),
        all(test.holds(facts.profile.get(key)) for key, test in condition.profile.items()),
        condition.any is None or any(holds(c, facts) for c in condition.any),
    )
    return all(checks)


def did(wanted: Did, facts: Facts) -> bool:
    return any(wanted.matches(s.name, s.step, s.label, s.properties) for s in facts.events)


def _with(facts: Facts, **changes) -> Facts:
    return Facts(**{**facts.__dict__, **changes})
