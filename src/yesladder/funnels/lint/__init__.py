"""The ladder linter: audits a funnel against the micro-commitment rules of the seed articles.

Pure package (no Django). Each rule has an id, a name, a default severity and a rationale citing
its seed (docs/lint-rules.md). Rules look at the ladder along every path a visitor can take
through it, and at the automations that follow up on it. `core` holds what every rule stands
on; each family of rules is one module, registered by being imported here.
"""

from yesladder.funnels.lint import (  # noqa: F401
    emails,
    entry,
    experiments,
    followups,
    money_and_time,
    quizzes,
    runs,
    shape,
)
from yesladder.funnels.lint.core import (
    ERROR,
    RULES,
    WARNING,
    Climb,
    Finding,
    Ladder,
    Rule,
    check_settings,
    climb,
    lint,
)

__all__ = [
    "ERROR", "RULES", "WARNING", "Climb", "Finding", "Ladder", "Rule", "check_settings", "climb",
    "lint",
]  # fmt: skip
