"""Steps that ask questions (quiz, poll, form)."""

from collections import Counter

from django.http import HttpRequest

from yesladder.events import EventName
from yesladder.funnels import scoring
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.schema import Poll, Question, Quiz
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
from yesladder.steps.kinds.fields import fields_to_ask, keep_fields, read_fields
from yesladder.tracking.journeys import Page
from yesladder.tracking.models import Event


def step_answers(page: Page) -> dict[str, str]:
    """This step's answers in the journey (quiz questions, the poll, pending form fields)."""
    return page.journey.answers.get(page.step.key, {})


def quiz_context(request: HttpRequest, page: Page) -> dict:
    step: Quiz = page.step
    answers = step_answers(page)
    shown = scoring.visible(step, answers)
    open_questions = [q for q in shown if q.key not in answers]
    if open_questions and step.key not in page.journey.done:
        question = open_questions[0]
        return {
            "question": question,
            "number": shown.index(question) + 1,
            "count": len(shown),  # the questions this visitor will see, as answered so far
            "values": _scale(question),
            "can_go_back": bool(answers),
        }
    asked = result_fields(page)
    if asked:
        others = [f for f in asked if f.key != "email"]
        return {"gate": True, "other_fields": others, "ask_email": len(others) < len(asked)}
    return {
        **result_context(step, answers),
        "offer_email": step.result_by_email,
        "ask_email": page.journey.visitor.lead is None,
        "emailed": page.journey.visitor.events.filter(
            name=EventName.RESULT_EMAILED, step_key=step.key
        ).exists(),
    }


def result_fields(page: Page) -> list:
    """The quiz's declared fields not known yet (the gate's email among them), asked on one
    screen between the last question and the result; a field the lead gave is never asked
    again (progressive profiling), nor one this visitor already gave here."""
    given = page.journey.answers.get(_given_key(page.step), {})
    return [f for f in fields_to_ask(page, page.step.asked_fields()) if f.key not in given]


def _given_key(step: Quiz) -> str:
    """Where a visitor we do not know yet keeps the quiz's fields in the journey until they
    give their email (no step key has an `@`)."""
    return f"{step.key}@fields"


def give_fields(request: HttpRequest, page: Page) -> Submitted:
    """The quiz's fields, given before the result: onto the lead's profile, or kept in the
    journey until the visitor gives an email (then they go with it)."""
    values, errors = read_fields(request, result_fields(page))
    if errors:
        return Submitted(errors=errors, values=values)
    if page.journey.visitor.lead is not None:
        kept = keep_fields(request, page, values)
        if kept.errors:
            return kept
    else:
        key = _given_key(page.step)
        page.journey.answers = {**page.journey.answers,
                                key: {**page.journey.answers.get(key, {}), **values}}  # fmt: skip
        page.journey.save(update_fields=["answers", "updated_at"])
    return Submitted(redirect=step_url(page, page.step.key))


def _scale(question: Question) -> list[int]:
    return list(range(question.scale.min, question.scale.max + 1)) if question.scale else []


def with_assessment(context):
    """A step kind's context plus the visitor's latest scored result on this ladder, so a
    call's agenda can start from it (seed 003: the assessment's result opens the call)."""

    def extended(request: HttpRequest, page: Page) -> dict:
        return {**context(request, page), "assessment": assessment(page)}

    return extended


def assessment(page: Page) -> dict | None:
    done = [s for s in page.spec.steps if isinstance(s, Quiz) and s.scored()
            and s.key in page.journey.done]  # fmt: skip
    if not done:
        return None
    quiz = done[-1]
    score = scoring.score(quiz, page.journey.answers.get(quiz.key, {}))
    return {"quiz": quiz, "score": score, "weakest": score.weakest()}


BAR_ROW = 34  # px per category in the result's SVG: a label line and a 300 px bar


def result_context(step: Quiz, answers: dict) -> dict:
    """What the result page and the result email show (the same promise kept twice)."""
    if not step.scored():
        outcome = next(o for o in step.outcomes if o.key == scoring.outcome(step, answers))
        return {"outcome": outcome, "outcome_html": render_markdown(outcome.body), "cta": None}
    score = scoring.score(step, answers)
    weakest = score.weakest()
    return {
        "outcome": score.tier,
        "outcome_html": render_markdown(score.tier.body),
        "score": score,
        "bars": [
            {"part": p, "y": BAR_ROW * i, "width": p.percent * 3} for i, p in enumerate(score.parts)
        ],
        "bars_height": BAR_ROW * len(score.parts),
        "weakest": weakest,
        "fix": scoring.fix(step, weakest, score.tier) if weakest else "",
        "cta": score.tier.cta,
    }


ALREADY_COUNTED = "You have finished this quiz: your answers are counted once and kept as they are."


def quiz_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Quiz = page.step
    action = request.POST.get("action")
    finished = step.key in page.journey.done
    if action in ("answer", "back") and finished:
        return Submitted(errors={"option": ALREADY_COUNTED}, status=409)
    if action == "answer":
        return answer_question(request, page, step)
    answers = step_answers(page)
    if action == "back":
        return go_back(page, step, answers)
    if [q for q in scoring.visible(step, answers) if q.key not in answers]:
        return Submitted(redirect=step_url(page, step.key))
    result = scoring.result_key(step, answers)
    if action == "email" and (step.result_by_email or step.gate):
        return email_result(request, page, answers)
    if action == "fields":
        return give_fields(request, page)
    if result_fields(page):  # the result, and the way on, come after the fields
        return Submitted(redirect=step_url(page, step.key))
    if not finished:  # a replayed POST moves on again but counts nothing twice
        page.journey.outcome = result
        extra = scoring.score(step, answers).as_data() if step.scored() else {}
        page.event(EventName.QUIZ_COMPLETED, outcome=result, **extra)
    return move_on(page, result)


def email_result(request: HttpRequest, page: Page, answers: dict) -> Submitted:
    """The open loop: the result goes to the inbox, and the visitor becomes a lead (with the
    quiz's fields: asked on the gate's screen, or given before)."""
    asked = [] if page.journey.visitor.lead else [EMAIL]
    asked += [f for f in result_fields(page) if f.key != "email"]
    values, errors = read_fields(request, asked)
    if errors:
        return Submitted(errors=errors, values=values)
    given = page.journey.answers.get(_given_key(page.step), {})
    result = keep_fields(request, page, {**given, **values}, "Email me my result.")
    if result.errors:
        return result
    shown = result_context(page.step, answers)
    if not emails.send_result(page.journey.visitor.lead, page.step.title, shown):
        return Submitted(errors={"email": TOO_MANY_EMAILS}, status=429)
    page.event(EventName.RESULT_EMAILED, outcome=shown["outcome"].key)
    return Submitted(redirect=step_url(page, page.step.key))


def go_back(page: Page, step: Quiz, answers: dict) -> Submitted:
    """Take back the last answer; questions it showed are hidden again (and their answers
    dropped) until it is answered the same way."""
    shown = [q.key for q in scoring.visible(step, answers) if q.key in answers]
    if shown:
        kept = {k: v for k, v in answers.items() if k != shown[-1]}
        _keep_answers(page, step, kept)
    return Submitted(redirect=step_url(page, step.key))


def _keep_answers(page: Page, step: Quiz, answers: dict) -> None:
    """Store only the answers to questions still shown: a hidden question's points are gone."""
    shown = {q.key for q in scoring.visible(step, answers)}
    kept = {k: v for k, v in answers.items() if k in shown}
    page.journey.answers = {**page.journey.answers, step.key: kept}
    page.journey.save(update_fields=["answers", "updated_at"])


def read_answer(request: HttpRequest, question: Question) -> tuple[object, str]:
    """The visitor's answer to `question` as the quiz keeps it, or a message saying what to fix.
    Everything is checked against the spec: options, the scale, the cap, the number's bounds."""
    keys = [o.key for o in question.options]
    if question.type == "single":
        option = request.POST.get("option", "")
        return (option, "") if option in keys else (None, "Please choose one of the answers.")
    if question.type == "multiple":
        picked = request.POST.getlist("option")[:50]
        if not picked or any(p not in keys for p in picked):
            return None, "Please choose one or more of the answers."
        if len(set(picked)) > question.cap():
            return None, f"Please choose at most {question.cap()} answers."
        return [k for k in keys if k in picked], ""
    low, high = question.bounds()
    raw = request.POST.get("value", "").strip()
    what = f"a whole number from {low} to {high}"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 7 or not low <= int(raw) <= high:
        return None, f"Please enter {what}." if question.type == "number" else (
            f"Please pick a value from {low} to {high}.")  # fmt: skip
    return int(raw), ""


def answer_question(request: HttpRequest, page: Page, step: Quiz) -> Submitted:
    key = request.POST.get("question", "")
    question = next((q for q in step.questions if q.key == key), None)
    if question is None:
        return Submitted(errors={"option": "Please choose one of the answers."})
    answers = step_answers(page)
    if question not in scoring.visible(step, answers):
        # Posted by hand or from a stale page: a hidden question takes no answer, silently.
        return Submitted(redirect=step_url(page, step.key))
    value, problem = read_answer(request, question)
    if problem:
        return Submitted(errors={"option": problem})
    if answers.get(key) == value:  # a replayed POST: already counted
        return Submitted(redirect=step_url(page, step.key))
    if not ANSWERS_PER_ADDRESS.allows(client_address(request)):
        return Submitted(errors={"option": TOO_MANY_ANSWERS}, status=429)
    _keep_answers(page, step, {**answers, key: value})
    shown = {"option": value} if isinstance(value, str) else {"value": value}
    page.event(EventName.ANSWERED, question=key, **shown)
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
