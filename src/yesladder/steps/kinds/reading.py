"""Steps to read and watch (content, video): marks of progress, the engaged signal."""

from django.http import HttpRequest
from django.urls import reverse

from yesladder.events import EventName
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.schema import Video
from yesladder.steps.kinds.base import Submitted, continue_submit, without_repeated_title
from yesladder.tracking.journeys import Page

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
