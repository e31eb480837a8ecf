"""Share to unlock: the visitor's own link, the share intents, referrals counted."""

from urllib.parse import quote, urlencode

from django.http import HttpRequest
from django.urls import reverse

from yesladder.events import EventName
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.schema import Share
from yesladder.leads import emails
from yesladder.steps.kinds.base import Submitted, continue_submit, step_url
from yesladder.tracking.journeys import Page

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
