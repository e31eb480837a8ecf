"""What each step kind shows and what it does with a visitor's answer.

Views stay thin: they resolve the `Page`, then call `context` to render and `submit` on POST.
Everything a visitor sends is validated here and answered with a message on the same page.
"""

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from yesladder.events import EventName
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.schema import AskedField, Magnet, Optin, Poll, Quiz, Share, Video
from yesladder.leads import emails
from yesladder.leads.limits import ANSWERS_PER_ADDRESS, OPTINS_PER_ADDRESS, client_address
from yesladder.leads.services import ConsentGiven, InvalidEmail, consent_given, normalise_email
from yesladder.tracking.identity import identify
from yesladder.tracking.journeys import Page, complete
from yesladder.tracking.models import Event

MAX_FIELD_LENGTH = 200
EMAIL = AskedField.model_validate("email")
DOWNLOAD_SALT = "yesladder.download"


@dataclass
class Submitted:
    """The answer to a POST: where to go next, or what to fix on this page."""

    redirect: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    beacon: bool = False  # a background signal from the page's script: answer 204, no page
    status: int = 200


TOO_MANY_OPTINS = "Too many sign-ups from your network in the last hour. Please try again later."
TOO_MANY_EMAILS = "This address has had several emails from us this hour. Please try again later."
TOO_MANY_ANSWERS = "Too many answers from your network in the last hour. Please try again later."


def step_url(page: Page, key: str, query: str = "") -> str:
    url = reverse("steps:step", args=[page.journey.funnel.key, key])
    return f"{url}?{query}" if query else url


def without_repeated_title(body: str, title: str) -> str:
    """A body written as a document often opens with its title, which the page already shows."""
    first, _, rest = body.lstrip().partition("\n")
    return rest if first.lstrip("#").strip() == title.strip() and first.startswith("#") else body


def move_on(page: Page, outcome: str = "") -> Submitted:
    following = complete(page, outcome)
    return Submitted(
        redirect=step_url(page, following or page.step.key, "" if following else "end=1")
    )


# --- asking for personal fields -------------------------------------------------------------


def fields_to_ask(page: Page, fields) -> list:
    """Progressive profiling: a field the lead already gave is never asked again."""
    lead = page.journey.visitor.lead
    known = lead.known_fields() if lead else set()
    return [f for f in fields if f.key not in known]


def read_fields(request: HttpRequest, fields) -> tuple[dict[str, str], dict[str, str]]:
    values, errors = {}, {}
    for f in fields:
        value = request.POST.get(f.key, "").strip()[:MAX_FIELD_LENGTH]
        values[f.key] = value
        if f.key == "email":
            try:
                values["email"] = normalise_email(value)
            except InvalidEmail as exc:
                errors["email"] = str(exc)
        elif f.required and not value:
            errors[f.key] = f"Please fill in {f.label.lower()}."
        elif f.options and value and value not in f.options:
            errors[f.key] = f"Please choose one of the options for {f.label.lower()}."
    return values, errors


def take_fields(request: HttpRequest, page: Page, fields, consent_text: str = "") -> Submitted:
    """Validate the fields, then keep them (see `keep_fields`)."""
    values, errors = read_fields(request, fields)
    if errors:
        return Submitted(errors=errors, values=values)
    return keep_fields(request, page, values, consent_text)


def keep_fields(
    request: HttpRequest, page: Page, values: dict, consent_text: str = ""
) -> Submitted:
    """Identify the visitor by email, fill the lead's profile, keep the consent record."""
    if values.get("email") and not OPTINS_PER_ADDRESS.allows(client_address(request)):
        return Submitted(errors={"email": TOO_MANY_OPTINS}, values=values, status=429)
    values = dict(values)
    lead = page.journey.visitor.lead
    given = values.pop("email", None)
    consent = _consent(request, page, consent_text) if given else None
    email = given or (lead.email if lead else None)
    if email is None:
        return Submitted(errors={"email": "Please enter your email address."}, values=values)
    lead = identify(page.journey.visitor, email, values, consent)
    page.event(EventName.FIELDS_GIVEN, fields=sorted(values), email=given is not None)
    if consent and consent.double_optin and lead.confirmed_at is None:
        token = emails.confirm_token(lead, page.version.pk, page.step.key, page.journey.pk)
        emails.send_confirmation(request, lead, page.spec.name, token)
    return Submitted()


def _consent(request: HttpRequest, page: Page, text: str) -> ConsentGiven:
    double = page.spec.double_optin
    if isinstance(page.step, Optin) and page.step.double_optin is not None:
        double = page.step.double_optin
    return consent_given(
        text or "Send me what I asked for.", request.build_absolute_uri(),
        client_address(request), request.META.get("HTTP_USER_AGENT", ""),
        double_optin=double, version_id=page.version.pk, step_key=page.step.key,
    )  # fmt: skip


# --- the kinds ------------------------------------------------------------------------------


READ_MARKS = {"scroll": (25, 50, 75, 100), "seconds": (30, 60, 120, 300)}


def content_context(request: HttpRequest, page: Page) -> dict:
    body = without_repeated_title(page.step.body or "", page.step.title)
    return {"body_html": render_markdown(body)}


def content_submit(request: HttpRequest, page: Page) -> Submitted:
    if request.POST.get("action") != "read":
        return continue_submit(request, page)
    measure, _, mark = request.POST.get("value", "").partition(":")
    if measure in READ_MARKS and mark.isdigit() and int(mark) in READ_MARKS[measure]:
        milestone(page, EventName.READ_PROGRESS, **{measure: int(mark)})
    return Submitted(beacon=True)


def milestone(page: Page, name: EventName, **properties) -> None:
    """Record a progress milestone once per visitor and step, however often the page sends it."""
    seen = page.journey.visitor.events.filter(
        name=name, step_key=page.step.key, funnel_version=page.version,
        **{f"properties__{k}": v for k, v in properties.items()},
    )  # fmt: skip
    if not seen.exists():
        page.event(name, **properties)


def video_context(request: HttpRequest, page: Page) -> dict:
    step: Video = page.step
    src = step.src
    if not src.startswith(("http://", "https://", "/")):
        src = reverse("steps:asset", args=[src])
    return {"video_src": src, "milestones": ",".join(str(m) for m in video_marks(step))}


def video_marks(step: Video) -> list[int]:
    return sorted({25, 50, 75, 100, step.intent_percent})


def video_submit(request: HttpRequest, page: Page) -> Submitted:
    if request.POST.get("action") != "video":
        return continue_submit(request, page)
    value = request.POST.get("value", "")
    if value.isdigit() and int(value) in video_marks(page.step):
        percent = int(value)
        milestone(page, EventName.VIDEO_PROGRESS, percent=percent)
    return Submitted(beacon=True)


def continue_submit(request: HttpRequest, page: Page) -> Submitted:
    page.event(EventName.CTA_CLICKED, cta=page.step.cta or "")
    return move_on(page)


def optin_context(request: HttpRequest, page: Page) -> dict:
    return {"fields": fields_to_ask(page, page.step.asked_fields())}


def optin_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Optin = page.step
    result = take_fields(request, page, step.asked_fields(), step.consent)
    if result.errors:
        return result
    page.event(EventName.OPTED_IN)
    return move_on(page)


def download_token(page: Page) -> str:
    return signing.dumps(
        {"v": page.version.pk, "s": page.step.key, "j": page.journey.pk},
        salt=DOWNLOAD_SALT,
    )


def magnet_context(request: HttpRequest, page: Page) -> dict:
    step: Magnet = page.step
    gate = fields_to_ask(page, step.asked_fields())
    url = None if gate else reverse("steps:download", args=[download_token(page)])
    return {"fields": gate, "download_url": url, "expires_days": step.asset.expires.days}


def magnet_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Magnet = page.step
    if request.POST.get("action") == "unlock":
        result = take_fields(request, page, fields_to_ask(page, step.asked_fields()))
        if result.errors:
            return result
        if step.email_copy:
            path = reverse("steps:download", args=[download_token(page)])
            lead = page.journey.visitor.lead
            emails.send_magnet(request, lead, step.asset.name, path, step.asset.expires.days)
        return Submitted(redirect=step_url(page, step.key))
    if fields_to_ask(page, page.step.asked_fields()):
        return Submitted(errors={"email": "Please tell us where to send it first."})
    return continue_submit(request, page)


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
SHARE_CHANNELS = {
    "email": ("Email", "mailto:?", lambda m, link: {"subject": m, "body": f"{m}\n\n{link}"}),
    "x": ("X", "https://x.com/intent/post?", lambda m, link: {"text": m, "url": link}),
    "linkedin": (
        "LinkedIn", "https://www.linkedin.com/sharing/share-offsite/?",
        lambda m, link: {"url": link},
    ),
    "whatsapp": ("WhatsApp", "https://wa.me/?", lambda m, link: {"text": f"{m} {link}"}),
    "facebook": (
        "Facebook", "https://www.facebook.com/sharer/sharer.php?", lambda m, link: {"u": link}
    ),
}  # fmt: skip


def share_link(request: HttpRequest, page: Page) -> str:
    path = reverse("steps:entry", args=[page.journey.funnel.key])
    return emails.absolute(request, f"{path}?r={page.journey.visitor.share_code()}")


def share_intent(channel: str, message: str, link: str) -> str:
    _, base, params = SHARE_CHANNELS[channel]
    return base + urlencode(params(message, link), quote_via=quote)


def referrals(page: Page) -> int:
    """People who arrived through the visitor's link and took at least one step: a script
    fetching the link, a known bot or a link preview is no person."""
    return (
        page.journey.funnel.journeys.filter(referred_by=page.journey.visitor, visitor__is_bot=False)
        .exclude(done=[])
        .count()
    )


def share_progress(page: Page) -> tuple[bool, int | None]:
    """Whether the step is unlocked, and the referrals so far when it unlocks on them."""
    step: Share = page.step
    if step.unlock.when == "referrals":
        count = referrals(page)
        return count >= step.unlock.count, count
    shared = page.journey.visitor.events.filter(name=EventName.SHARED, step_key=step.key)
    return shared.exists(), None


def share_context(request: HttpRequest, page: Page) -> dict:
    step: Share = page.step
    unlocked, count = share_progress(page)
    return {
        "share_url": share_link(request, page),
        "channels": [(key, label) for key, (label, _, _) in SHARE_CHANNELS.items()],
        "unlocked": unlocked,
        "unlocks_html": render_markdown(step.unlocks) if unlocked else "",
        "referrals": count,
        "copied": request.GET.get("copied") == "1",
    }


def share_submit(request: HttpRequest, page: Page) -> Submitted:
    action, channel = request.POST.get("action"), request.POST.get("channel", "")
    if action == "share":
        if channel not in SHARE_CHANNELS and channel != "copy":
            return Submitted(errors={"share": "Please pick one of the share buttons."})
        page.event(EventName.SHARED, channel=channel)
        if channel == "copy":
            return Submitted(redirect=step_url(page, page.step.key, "copied=1"))
        intent = share_intent(channel, page.step.message, share_link(request, page))
        return Submitted(redirect=intent)
    if not share_progress(page)[0]:
        return Submitted(errors={"share": locked_message(page)})
    return continue_submit(request, page)


def locked_message(page: Page) -> str:
    unlock = page.step.unlock
    if unlock.when == "referrals":
        people = "person" if unlock.count == 1 else "people"
        return f"This unlocks when {unlock.count} {people} arrived through your link."
    return "Share your link first, with any of the buttons; then this unlocks."


@dataclass(frozen=True)
class Kind:
    context: object
    submit: object
    skips: object = None  # page -> True when the visitor has nothing to do here


KINDS: dict[str, Kind] = {
    "content": Kind(content_context, content_submit),
    "video": Kind(video_context, video_submit),
    "optin": Kind(optin_context, optin_submit),
    "magnet": Kind(magnet_context, magnet_submit),
    "quiz": Kind(quiz_context, quiz_submit),
    "poll": Kind(poll_context, poll_submit),
    "form": Kind(form_context, form_submit, form_skips),
    "share": Kind(share_context, share_submit),
}
