"""Quizzes that keep their shape: conditions that can hold, results someone can get, a longest
path that stays a micro commitment, no gate before value (YL024-YL027)."""

from collections.abc import Iterator

from yesladder.funnels import scoring
from yesladder.funnels.cost import SECONDS_PER_QUESTION
from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, rule
from yesladder.funnels.spec.schema import Quiz

# About a minute of tapping: seed 002's "quick quiz"; past it the quiz is a survey.
MAX_QUESTIONS = 12


def _quizzes(ladder: Ladder) -> Iterator[Quiz]:
    return (s for s in ladder.steps if isinstance(s, Quiz))


@rule("YL024", "quiz-condition", ERROR, "002, 003",
      "A question's `show_if` names no earlier choice question and option.")  # fmt: skip
def quiz_condition(ladder: Ladder) -> Iterator[Finding]:
    for quiz in _quizzes(ladder):
        for i, question in enumerate(quiz.questions):
            problem = _condition_problem(quiz, i)
            if problem:
                yield ladder.finding(
                    quiz,
                    f"question '{question.key}' {problem}: it is never shown",
                    "name an earlier choice question and one of its options in `show_if`",
                    "questions", i, "show_if",
                )  # fmt: skip


def _condition_problem(quiz: Quiz, i: int) -> str | None:
    condition = quiz.questions[i].show_if
    if condition is None:
        return None
    asked = next((q for q in quiz.questions[:i] if q.key == condition.question), None)
    if asked is None:
        if any(q.key == condition.question for q in quiz.questions[i:]):
            return f"depends on '{condition.question}', which comes later or is this question"
        return f"depends on an unknown question '{condition.question}'"
    if asked.type not in ("single", "multiple"):
        return f"depends on '{asked.key}', a {asked.type} question without options"
    if condition.option not in {o.key for o in asked.options}:
        return f"depends on an unknown option '{condition.option}' of '{asked.key}'"
    return None


@rule("YL025", "quiz-unreachable-result", WARNING, "003",
      "A tier or category of a scored quiz no answers can reach.")  # fmt: skip
def quiz_unreachable_result(ladder: Ladder) -> Iterator[Finding]:
    for quiz in (q for q in _quizzes(ladder) if q.scored()):
        found = scoring.reachable(quiz)
        if found is None:  # too many paths to walk; say nothing rather than guess
            continue
        tiers, categories = found
        for i, tier in enumerate(quiz.tiers):
            if tier.key not in tiers:
                yield ladder.finding(
                    quiz,
                    f"no answers reach the tier '{tier.key}' ({tier.from_}-{tier.to} %)",
                    "move the tier's range, or give answers points that can land in it",
                    "tiers", i,
                )  # fmt: skip
        for i, category in enumerate(quiz.categories):
            if category.key not in categories:
                yield ladder.finding(
                    quiz,
                    f"no question a visitor can see scores toward the category '{category.key}'",
                    "give a shown question `category: " + category.key + "` and options "
                    "with points, or remove the category",
                    "categories", i,
                )  # fmt: skip


@rule("YL026", "long-quiz", WARNING, "002, 003",
      "The longest path through a quiz is no longer a micro commitment.")  # fmt: skip
def long_quiz(ladder: Ladder) -> Iterator[Finding]:
    for quiz in _quizzes(ladder):
        longest = scoring.longest(quiz)
        seconds = longest * SECONDS_PER_QUESTION
        if longest > MAX_QUESTIONS:
            yield ladder.finding(
                quiz,
                f"the longest path asks {longest} questions (over {MAX_QUESTIONS}): a quiz this "
                "long is a survey, not a micro commitment",
                "cut questions, or show some only when an earlier answer calls for them "
                "(`show_if`)",
                "questions",
            )
        elif quiz.ask.effort is not None and quiz.ask.effort < seconds:
            yield ladder.finding(
                quiz,
                f"`ask.effort` says {quiz.ask.effort} s, but the longest path asks {longest} "
                f"questions (about {seconds} s)",
                "raise `ask.effort` to what the longest path takes, or shorten that path",
                "ask",
            )


@rule("YL027", "gate-before-value", WARNING, "003, 004",
      "A quiz's result waits for personal data before the visitor got any value.")  # fmt: skip
def gate_before_value(ladder: Ladder) -> Iterator[Finding]:
    # The gate's email and the quiz's declared fields are asked before the result is shown.
    gated = {q.key: [f.key for f in q.asked_fields()] for q in _quizzes(ladder)}
    said: set[str] = set()
    for path in ladder.paths:
        for rung in ladder.rungs(path):
            key = rung.step.key
            if gated.get(key) and key not in said and not rung.value_before:
                said.add(key)
                yield ladder.finding(
                    rung.step,
                    f"the result waits for {', '.join(gated[key])}, and nothing before it gave "
                    "the visitor any value",
                    "put a step that gives value first (seed 003: value before the ask), or "
                    "show the result first: offer it by email instead of a gate, and ask the "
                    "fields on a later step",
                    "gate" if rung.step.gate else "ask",
                )
