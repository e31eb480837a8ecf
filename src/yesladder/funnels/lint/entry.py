"""The first rungs and what they ask: no personal data before value, one field to opt in,
a value-first call to action, a short entry, forms that show their progress (YL001, YL002,
YL005, YL009, YL010, YL011).
"""

import re
from collections.abc import Iterator

from yesladder.funnels.cost import charges_money, step_cost
from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, _fields, rule
from yesladder.funnels.spec.schema import (
    Form,
    Optin,
)


@rule("YL001", "entry-asks-personal-data", ERROR, "003, 000",
      "The first step asks for personal data or money.")  # fmt: skip
def entry_asks_personal_data(ladder: Ladder) -> Iterator[Finding]:
    step = ladder.entry
    cost = step_cost(step, ladder.spec)
    if not cost.new_fields:
        return
    where = ("ask",) if step.ask.fields else ()
    if charges_money(step) or set(cost.new_fields) != {"email"}:
        yield ladder.finding(
            step,
            f"the first step asks for {_fields(cost.new_fields)} from a visitor who has "
            "not received anything yet",
            "start with a step that asks nothing (an article, a video, a one-question poll) and "
            "move personal fields and payment to later steps",
            *where,
        )
    elif ladder.spec.audience == "cold":
        yield ladder.finding(
            step,
            "the first step asks a cold visitor for an email before giving anything",
            "lead with free value (seed 003); if visitors arrive warm, from a solo-ad email they "
            "clicked, set `audience: warm` (seed 000 allows an email-only first step then)",
            *where,
            severity=WARNING,
        )


@rule("YL002", "optin-too-many-fields", ERROR, "000, 003",
      "An opt-in, or a form's first screen, asks for more than 2 fields.")  # fmt: skip
def optin_too_many_fields(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Optin):
            fields = [f.key for f in step.asked_fields()]
            where: tuple = ("ask", "fields")
        elif isinstance(step, Form):
            fields = [f.key for f in step.screens[0].fields]
            where = ("screens", 0, "fields")
        else:
            continue
        if len(fields) > 2:
            yield ladder.finding(
                step,
                f"asks for {len(fields)} fields at once ({_fields(fields)})",
                "ask only the email here; gather the rest later with progressive profiling "
                "(a form step whose screens ask one small group each)",
                *where,
            )


@rule("YL005", "no-value", ERROR, "001, 003",
      "A step declares no value for the visitor.")  # fmt: skip
def no_value(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if step.value is None:
            yield ladder.finding(
                step,
                "the step does not say what the visitor gets",
                "add `value:` in the visitor's words, e.g. 'A 6-minute read that shows where "
                "deals stall'",
            )


PUSHY = re.compile(
    r"\b(buy|order|purchase|pay|sign ?up|subscribe|register|join|check ?out|enroll|book)\b"
    r".{0,20}\b(now|today|immediately|right away)\b"
    r"|\b(act now|hurry|last chance|limited time|don'?t miss|only \d+ left|before it'?s gone"
    r"|buy now|order now)\b",
    re.IGNORECASE,
)


@rule("YL009", "pushy-cta", WARNING, "000, 003",
      "A high-pressure call to action on a step before the macro conversion.")  # fmt: skip
def pushy_cta(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if step.cta and not step.macro and PUSHY.search(step.cta):
            yield ladder.finding(
                step,
                f'high-pressure call to action: "{step.cta}"',
                "name what the visitor gets instead, e.g. 'Get my free guide' or 'Show me my "
                "result' (seed 000: 'Learn More' instead of 'Buy Now')",
                "cta",
            )


@rule("YL010", "slow-entry", WARNING, "000",
      "The first step's estimated effort exceeds 10 seconds.")  # fmt: skip
def slow_entry(ladder: Ladder) -> Iterator[Finding]:
    cost = step_cost(ladder.entry, ladder.spec)
    if cost.entry_seconds > 10:
        yield ladder.finding(
            ladder.entry,
            f"the first yes takes about {cost.entry_seconds} seconds",
            "a micro-commitment should take less than 10 seconds (seed 000); split it into "
            "screens or start with a click",
        )


@rule("YL011", "form-without-progress", WARNING, "000, 003",
      "A multi-screen form with its progress indicator turned off.")  # fmt: skip
def form_without_progress(ladder: Ladder) -> Iterator[Finding]:
    for step in ladder.steps:
        if isinstance(step, Form) and len(step.screens) > 1 and not step.progress:
            yield ladder.finding(
                step,
                f"a {len(step.screens)}-screen form without its progress indicator",
                "set `progress: true` so visitors see 'Step 2 of 3' (seed 000)",
                "progress",
            )
