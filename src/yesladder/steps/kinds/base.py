"""What every step kind shares: the answer to a POST, where a step leads, moving on."""

from dataclasses import dataclass, field

from django.http import HttpRequest
from django.urls import reverse

from yesladder.events import EventName
from yesladder.funnels.spec.schema import AskedField
from yesladder.tracking.journeys import Page, complete

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


def continue_submit(request: HttpRequest, page: Page) -> Submitted:
    page.event(EventName.CTA_CLICKED, cta=page.step.cta or "")
    return move_on(page)


@dataclass(frozen=True)
class Kind:
    context: object
    submit: object
    skips: object = None  # page -> True when the visitor has nothing to do here
