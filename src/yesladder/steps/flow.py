"""A visitor's walk up the ladder: which version, which journey, what comes next."""

from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.spec.schema import FunnelSpec, StepBase
from yesladder.leads.models import Visitor
from yesladder.tracking.events import EventName
from yesladder.tracking.models import Journey
from yesladder.tracking.services import record


@dataclass(frozen=True)
class Page:
    """Everything a step's page needs, resolved once per request."""

    journey: Journey
    version: FunnelVersion
    spec: FunnelSpec
    step: StepBase

    @property
    def position(self) -> int:
        return self.spec.steps.index(self.step) + 1

    @property
    def total(self) -> int:
        return len(self.spec.steps)

    def event(self, name: EventName, **properties) -> None:
        record(name, self.journey.visitor, self.version, self.step.key, properties)


def journey_for(visitor: Visitor, funnel_key: str, referral: str = "") -> Journey:
    """The visitor's journey in this funnel; a new one starts in the current version, and is
    attributed to the visitor whose share link (`?r=<code>`) brought it."""
    funnel = Funnel.objects.filter(key=funnel_key).first()
    version = funnel.current_version() if funnel else None
    if version is None:
        raise Http404("No such funnel.")
    journey, created = Journey.objects.select_related("version").get_or_create(
        visitor=visitor,
        funnel=funnel,
        defaults={"version": version, "current_step": version.spec.steps[0].key},
    )
    if created and referral:
        attribute_referral(journey, referral)
    return journey


def attribute_referral(journey: Journey, code: str) -> None:
    sharer = Visitor.objects.filter(referral_code=code).exclude(pk=journey.visitor_id).first()
    if sharer is None:
        return
    journey.referred_by = sharer
    journey.save(update_fields=["referred_by", "updated_at"])
    share_step = next((s.key for s in journey.version.spec.steps if s.kind == "share"), "")
    record(
        EventName.REFERRAL_ARRIVED, journey.visitor, journey.version, share_step,
        {"sharer": str(sharer.pk)},
    )  # fmt: skip


def page_for(journey: Journey, step_key: str) -> Page:
    spec = journey.version.spec
    step = spec.step(step_key)
    if step is None or step.url:
        raise Http404("No such step in this funnel.")
    return Page(journey=journey, version=journey.version, spec=spec, step=step)


def complete(page: Page, outcome: str = "") -> str | None:
    """Mark the step done and move the journey on; returns the next step's key, if any."""
    journey, step = page.journey, page.step
    answers = journey.answers.get(step.key, {})
    following = page.spec.route(step, outcome or journey.outcome, answers)
    with transaction.atomic():
        if step.key not in journey.done:
            journey.done = [*journey.done, step.key]
            page.event(EventName.STEP_COMPLETED, next=following or "")
            if step.macro:
                journey.converted_at = timezone.now()
                page.event(EventName.CONVERTED)
        if following:
            journey.current_step = following
        journey.save()
    return following
