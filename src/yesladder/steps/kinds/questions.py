"""Steps that ask questions (quiz, poll, form)."""

from collections import Counter

from django.http import HttpRequest

from yesladder.events import EventName
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.schema import Poll, Quiz
from yesladder.leads import emails
from yesladder.leads.limits import ANSWERS_PER_ADDRESS, client_address
from yesladder.steps.kinds.base import (
    EMAIL,
    TOO_MANY_ANSWERS,
    TOO_MANY_EMAILS,
    Submitted,
    continue_submit,
    move_on,
    step_url,
)
from yesladder.steps.kinds.fields import fields_to_ask, keep_fields, read_fields, take_fields
from yesladder.tracking.journeys import Page
from yesladder.tracking.models import Event


def step_answers(page: Page) -> dict[str, str]:
    """This step's answers in the journey (quiz questions, the poll, pending form fields)."""
    return page.journey.answers.get(page.step.key, {})


def quiz_outcome(step: Quiz, answers: dict[str, str]) -> str:
    """The outcome with the highest total; ties go to the outcome listed first."""
    totals = Counter({o.key: 0 for o in step.outcomes})
    for question in step.questions:
        option = next((o for o in question.options if o.key == answers.get(question.key)), None)
        if option:
            totals.update(option.scores)
    best = max(totals.values())
    return next(o.key for o in step.outcomes if totals[o.key] == best)


def quiz_context(request: HttpRequest, page: Page) -> dict:
    step: Quiz = page.step
    answers = step_answers(page)
    open_questions = [q for q in step.questions if q.key not in answers]
    if open_questions:
        question = open_questions[0]
        number = step.questions.index(question) + 1
        return {"question": question, "number": number, "count": len(step.questions)}
    outcome = next(o for o in step.outcomes if o.key == quiz_outcome(step, answers))
    return {
        "outcome": outcome,
        "outcome_html": render_markdown(outcome.body),
        "offer_email": step.result_by_email,
        "ask_email": page.journey.visitor.lead is None,
        "emailed": page.journey.visitor.events.filter(
            name=EventName.RESULT_EMAILED, step_key=step.key
        ).exists(),
    }


def quiz_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Quiz = page.step
    action = request.POST.get("action")
    if action == "answer":
        return answer_question(request, page, step)
    answers = step_answers(page)
    if len(answers) < len(step.questions):
        return Submitted(redirect=step_url(page, step.key))
    outcome = quiz_outcome(step, answers)
    if action == "email" and step.result_by_email:
        return email_result(request, page, outcome)
    page.journey.outcome = outcome
    page.event(EventName.QUIZ_COMPLETED, outcome=outcome)
    return move_on(page, outcome)


def email_result(request: HttpRequest, page: Page, outcome_key: str) -> Submitted:
    """The open loop: the result goes to the inbox, and the visitor becomes a lead."""
    asked = [] if page.journey.visitor.lead else [EMAIL]
    result = take_fields(request, page, asked, "Email me my result.")
    if result.errors:
        return result
    outcome = next(o for o in page.step.outcomes if o.key == outcome_key)
    lead = page.journey.visitor.lead
    if not emails.send_result(lead, page.step.title, outcome, render_markdown(outcome.body)):
        return Submitted(errors={"email": TOO_MANY_EMAILS}, status=429)
    page.event(EventName.RESULT_EMAILED, outcome=outcome_key)
    return Submitted(redirect=step_url(page, page.step.key))


def answer_question(request: HttpRequest, page: Page, step) -> Submitted:
    key, option = request.POST.get("question", ""), request.POST.get("option", "")
    question = next((q for q in step.questions if q.key == key), None)
    if question is None or option not in {o.key for o in question.options}:
        return Submitted(errors={"option": "Please choose one of the answers."})
    if not ANSWERS_PER_ADDRESS.allows(client_address(request)):
        return Submitted(errors={"option": TOO_MANY_ANSWERS}, status=429)
    page.journey.answers = {**page.journey.answers, step.key: {**step_answers(page), key: option}}
    page.journey.save(update_fields=["answers", "updated_at"])
    page.event(EventName.ANSWERED, question=key, option=option)
    return Submitted(redirect=step_url(page, step.key))


def poll_context(request: HttpRequest, page: Page) -> dict:
    step: Poll = page.step
    chosen = step_answers(page).get(step.key)
    if not chosen:
        return {"chosen": None}
    counts = Counter(
        Event.objects.filter(
            funnel_version__funnel=page.version.funnel,
            step_key=step.key,
            name=EventName.POLL_ANSWERED,
            is_bot=False,
        ).values_list("properties__option", flat=True)
    )
    total = sum(counts.values()) or 1
    tally = [
        {"label": o.label, "percent": round(100 * counts[o.key] / total), "mine": o.key == chosen}
        for o in step.options
    ]
    return {"chosen": chosen, "tally": tally if step.show_tally else None}


def poll_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Poll = page.step
    if request.POST.get("action") != "answer":
        return continue_submit(request, page)
    option = request.POST.get("option", "")
    if option not in {o.key for o in step.options}:
        return Submitted(errors={"option": "Please choose one of the answers."})
    if not ANSWERS_PER_ADDRESS.allows(client_address(request)):
        return Submitted(errors={"option": TOO_MANY_ANSWERS}, status=429)
    if not step_answers(page):
        page.journey.answers = {**page.journey.answers, step.key: {step.key: option}}
        page.journey.save(update_fields=["answers", "updated_at"])
        page.event(EventName.POLL_ANSWERED, option=option)
    return Submitted(redirect=step_url(page, step.key))


def form_screens_left(page: Page) -> list:
    """Screens with a field still unknown: given to the lead before, or earlier in this form."""
    pending = step_answers(page)
    return [s for s in page.step.screens if [f for f in fields_to_ask(page, s.fields)
                                             if f.key not in pending]]  # fmt: skip


def form_context(request: HttpRequest, page: Page) -> dict:
    left = form_screens_left(page)
    if not left:
        return {"screen": None}
    screen = left[0]
    pending = step_answers(page)
    return {
        "screen": screen,
        "fields": [f for f in fields_to_ask(page, screen.fields) if f.key not in pending],
        "number": page.step.screens.index(screen) + 1,
        "count": len(page.step.screens),
    }


def form_submit(request: HttpRequest, page: Page) -> Submitted:
    left = form_screens_left(page)
    if not left:
        return continue_submit(request, page)
    pending = step_answers(page)
    fields = [f for f in fields_to_ask(page, left[0].fields) if f.key not in pending]
    values, errors = read_fields(request, fields)
    if errors:
        return Submitted(errors=errors, values=values)
    gathered = {**pending, **values}
    if "email" in gathered or page.journey.visitor.lead:
        kept = keep_fields(request, page, gathered)
        if kept.errors:
            return Submitted(errors=kept.errors, values=values, status=kept.status)
        gathered = {}
    page.journey.answers = {**page.journey.answers, page.step.key: gathered}
    page.journey.save(update_fields=["answers", "updated_at"])
    if len(left) > 1:
        return Submitted(redirect=step_url(page, page.step.key))
    return continue_submit(request, page)


def form_skips(page: Page) -> bool:
    """A form whose fields are all known moves straight on."""
    return page.journey.visitor.lead is not None and not form_screens_left(page)


# Where each share button goes; the visitor's link and message are the only variable parts,
# so the redirect can never be steered to another site.
