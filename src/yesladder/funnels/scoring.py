"""A quiz's score: which questions a visitor sees, what their answers are worth, the tier.

Pure module (no Django, no I/O): the pages, the linter and the cost model all read it, and its
tests check it against hand-computed values. docs/funnel-spec.md ("Scoring") explains the rules.

Answers are kept as the pages store them, per question key: an option key (single), a list of
option keys (multiple) or an int (scale, number).
"""

import itertools
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

from yesladder.funnels.spec.schema import Question, Quiz, Tier

Answer = str | list[str] | int
MAX_PATHS = 2000  # answer combinations the linter walks before it stops judging reachability


@dataclass(frozen=True)
class Part:
    """A category's share of the score."""

    key: str
    title: str
    points: int
    maximum: int

    @property
    def percent(self) -> int:
        return percent(self.points, self.maximum)


@dataclass(frozen=True)
class Score:
    points: int
    maximum: int  # the most the questions this visitor saw could give
    tier: Tier
    parts: tuple[Part, ...]  # categories with something to score on this path, in spec order

    @property
    def percent(self) -> int:
        return percent(self.points, self.maximum)

    def weakest(self) -> Part | None:
        """The category furthest from its maximum; the one listed first on a tie."""
        return min(self.parts, key=lambda p: p.percent, default=None)

    def as_data(self) -> dict:
        """The score as events, profiles and webhooks carry it."""
        return {
            "score": self.percent,
            "points": self.points,
            "maximum": self.maximum,
            "tier": self.tier.key,
            "categories": {p.key: p.percent for p in self.parts},
        }


def percent(points: int, maximum: int) -> int:
    """Whole percent, halves rounded up (integer arithmetic: 2/3 is 67, never 66.99...)."""
    return (200 * points + maximum) // (2 * maximum) if maximum else 0


def chosen(answer: Answer | None) -> set[str]:
    if isinstance(answer, str):
        return {answer}
    if isinstance(answer, list):
        return set(answer)
    return set()


def visible(quiz: Quiz, answers: dict[str, Answer]) -> list[Question]:
    """The questions this visitor sees: a `show_if` holds only on a visible earlier answer, so
    a question hidden by a changed answer hides the questions that followed from it too."""
    shown: list[Question] = []
    for question in quiz.questions:
        condition = question.show_if
        if condition is None or (
            condition.question in {q.key for q in shown}
            and condition.option in chosen(answers.get(condition.question))
        ):
            shown.append(question)
    return shown


def points(question: Question, answer: Answer | None) -> int:
    if question.type in ("single", "multiple"):
        picked = chosen(answer)
        return sum(o.points for o in question.options if o.key in picked)
    if not isinstance(answer, int) or isinstance(answer, bool):
        return 0
    if question.scale is not None:
        low, high = question.scale.min, question.scale.max
        return high - answer if question.scale.reverse else answer - low
    return next((r.points for r in question.ranges
                 if r.min <= answer and (r.max is None or answer <= r.max)), 0)  # fmt: skip


def most(question: Question) -> int:
    """The most a question can give."""
    if question.type == "single":
        return max(o.points for o in question.options)
    if question.type == "multiple":
        return sum(sorted((o.points for o in question.options), reverse=True)[: question.cap()])
    if question.scale is not None:
        return question.scale.max - question.scale.min
    return max(r.points for r in question.ranges)


def tier_for(quiz: Quiz, percent_: int) -> Tier:
    """Tiers cover 0-100 without gaps (the spec checks it); 100 belongs to the last."""
    return next((t for t in quiz.tiers if t.from_ <= percent_ < t.to), quiz.tiers[-1])


def score(quiz: Quiz, answers: dict[str, Answer]) -> Score:
    """The score of a scored quiz: answers to hidden questions count for nothing, and the
    maximum is what the questions the visitor saw could give."""
    seen = visible(quiz, answers)
    got = sum(points(q, answers.get(q.key)) for q in seen)
    top = sum(most(q) for q in seen)
    parts = []
    for category in quiz.categories:
        mine = [q for q in seen if q.category == category.key]
        maximum = sum(most(q) for q in mine)
        got_here = sum(points(q, answers.get(q.key)) for q in mine)
        if maximum:
            parts.append(Part(category.key, category.title, got_here, maximum))
    return Score(got, top, tier_for(quiz, percent(got, top)), tuple(parts))


def fix(quiz: Quiz, part: Part, tier: Tier) -> str:
    category = next(c for c in quiz.categories if c.key == part.key)
    return category.fix_by_tier.get(tier.key, category.fix)


def outcome(quiz: Quiz, answers: dict[str, Answer]) -> str:
    """An outcome quiz's result: the outcome with the highest total; ties go to the outcome
    listed first. Only the questions the visitor saw count."""
    totals = Counter({o.key: 0 for o in quiz.outcomes})
    for question in visible(quiz, answers):
        picked = chosen(answers.get(question.key))
        for option in question.options:
            if option.key in picked:
                totals.update(option.scores)
    best = max(totals.values())
    return next(o.key for o in quiz.outcomes if totals[o.key] == best)


def result_key(quiz: Quiz, answers: dict[str, Answer]) -> str:
    """What routes, automations and reports know the result by: the tier of a scored quiz,
    the outcome of the others."""
    return score(quiz, answers).tier.key if quiz.scored() else outcome(quiz, answers)


# --- every path, for the linter and the cost model ------------------------------------------


def deciders(quiz: Quiz) -> list[Question]:
    """The questions some `show_if` depends on: their answers decide the path."""
    named = {q.show_if.question for q in quiz.questions if q.show_if}
    return [q for q in quiz.questions if q.key in named and q.type in ("single", "multiple")]


def paths(quiz: Quiz) -> list[dict[str, Answer]] | None:
    """One answer per deciding question for every distinct way through the quiz (a multiple
    choice decides by each option alone); None when there are more than MAX_PATHS."""
    choices = [[o.key for o in q.options] for q in deciders(quiz)]
    count = 1
    for options in choices:
        count *= len(options)
        if count > MAX_PATHS:
            return None
    keys = [q.key for q in deciders(quiz)]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*choices)]


def longest(quiz: Quiz) -> int:
    """Questions on the longest path through the quiz (all of them when the paths are too
    many to walk: the cost model then errs on the side of a bigger ask)."""
    found = paths(quiz)
    if found is None:
        return len(quiz.questions)
    return max(len(visible(quiz, answers)) for answers in found)


def reachable(quiz: Quiz) -> tuple[set[str], set[str]] | None:
    """The tiers and categories some visitor can end with; None when the paths are too many."""
    found = paths(quiz)
    if found is None:
        return None
    tiers: set[str] = set()
    categories: set[str] = set()
    for answers in found:
        seen = visible(quiz, answers)
        categories |= {q.category for q in seen if q.category and most(q)}
        top = sum(most(q) for q in seen)
        sums = {0}
        for question in seen:
            possible = _possible(question, answers.get(question.key))
            sums = {s + p for s in sums for p in possible}
        tiers |= {tier_for(quiz, percent(s, top)).key for s in sums}
    return tiers, categories


def _possible(question: Question, including: Answer | None = None) -> set[int]:
    """Every number of points an answer to `question` can give; with `including`, only the
    answers that choose that option (a path decided by it)."""
    if question.type == "single":
        return {o.points for o in question.options if including in (None, o.key)}
    if question.type == "multiple":
        first = [o for o in question.options if o.key == including]
        sums: set[tuple[int, int]] = {(1, first[0].points)} if first else {(0, 0)}
        for option in (o for o in question.options if o.key != including):
            sums |= {(n + 1, s + option.points) for n, s in sums if n < question.cap()}
        return {s for n, s in sums if n >= 1}
    if question.scale is not None:
        return set(range(question.scale.max - question.scale.min + 1))
    return {r.points for r in question.ranges}


# --- a score reported by a site that hosts the quiz itself -----------------------------------


def reported(quiz: Quiz | None, properties: dict) -> tuple[dict, str]:
    """The score part of a tracked `quiz_completed` (score 0-100, tier, categories), checked
    and bounded, or a message saying what is wrong. A tier named by a scored quiz of the spec
    must be one of its tiers; without one, the quiz's own ranges give it."""
    score = properties.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        return {}, "quiz_completed needs `score`, a whole number from 0 to 100"
    tier = properties.get("tier")
    scored = quiz is not None and quiz.scored()
    if tier is None and scored:
        tier = tier_for(quiz, score).key
    if tier is not None and (not isinstance(tier, str) or not 0 < len(tier) <= 64):
        return {}, "`tier` is a key of up to 64 characters"
    if scored and tier not in {t.key for t in quiz.tiers}:
        return {}, f"`tier` {tier[:64]!r} is not a tier of this quiz"
    categories = properties.get("categories", {})
    if not isinstance(categories, dict) or len(categories) > 12 or not all(
        isinstance(k, str) and 0 < len(k) <= 64 and isinstance(v, int)
        and not isinstance(v, bool) and 0 <= v <= 100 for k, v in categories.items()
    ):  # fmt: skip
        return {}, "`categories` maps up to 12 category keys to whole percents from 0 to 100"
    found = {"score": score, "categories": categories}
    return ({**found, "tier": tier, "outcome": tier} if tier else found), ""


class Shown(NamedTuple):
    title: str
    percent: int


@dataclass(frozen=True)
class Reading:
    """A stored result (the score a `quiz_completed` carries) in its quiz's words, for the
    people who act on it: the lead's page, the leads list, the host before the call."""

    funnel: str
    quiz: str  # the quiz's title (its step key when the spec no longer has it)
    score: int | None
    tier: str  # the tier's title (its key ...)
    categories: tuple[Shown, ...]  # in the spec's order
    weakest: Shown | None


def reading(quiz: Quiz | None, result: dict) -> Reading:
    """`result` as tracking.services.quiz_results gives it, named by `quiz` where it can be."""
    tiers = {t.key: t.title for t in quiz.tiers} if quiz else {}
    titles = {c.key: c.title for c in quiz.categories} if quiz else {}
    order = {key: i for i, key in enumerate(titles)}
    found = sorted(result.get("categories", {}).items(), key=lambda c: order.get(c[0], len(order)))
    parts = tuple(Shown(titles.get(key, key), value) for key, value in found)
    return Reading(
        funnel=result["funnel"], quiz=quiz.title if quiz else result["step"],
        score=result.get("score"), tier=tiers.get(result["tier"], result["tier"]),
        categories=parts, weakest=min(parts, key=lambda p: p.percent, default=None),
    )  # fmt: skip
