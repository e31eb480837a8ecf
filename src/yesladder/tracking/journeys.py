"""A visitor's walk up the ladder: which version, which journey, what comes next."""

from dataclasses import dataclass

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from yesladder import seams
from yesladder.database import only_row
from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion, current_version, stored_version
from yesladder.funnels.spec.schema import FunnelSpec, StepBase
from yesladder.leads.limits import REFERRALS_PER_ADDRESS
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event, Journey
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


def starting_version(visitor: Visitor, version: FunnelVersion) -> FunnelVersion:
    """The version a new journey of `visitor` starts in, `version` being the funnel's current
    one, unless a part above says otherwise (experiments send a person to their variant's
    ladder and expose them: seams.STARTING_VERSION). Called once per journey, as it starts."""
    assign = seams.STARTING_VERSION.filled
    return assign(visitor, version) if assign else version


def variants_of(journeys: list[tuple[int, int]]) -> dict[int, tuple[str, str]]:
    """Which experiment and variant journeys stand for, for the tracking API's answer (the
    site shows the variant's copy): (journey id, its version id) -> journey id ->
    (experiment, variant), for the journeys in an experiment (seams.VARIANT_NAMES)."""
    name = seams.VARIANT_NAMES.filled
    return name(journeys) if name and journeys else {}


def _start(visitor: Visitor, version: FunnelVersion) -> dict:
    version = starting_version(visitor, version)
    return {"version": version, "current_step": version.spec.steps[0].key}


def journey_for(
    visitor: Visitor, funnel_key: str, referral: str = "", address: str = ""
) -> Journey:
    """The visitor's journey in this funnel; a new one starts in the current version (or the
    ladder of its experiment variant), and is attributed to the visitor whose share link
    (`?r=<code>`) brought it."""
    version = current_version(funnel_key)
    if visitor.first_request:  # a visitor made by this very request has no journey to look up
        journey = Journey.objects.create(
            visitor=visitor, funnel=version.funnel, **_start(visitor, version)
        )
        created = True
    else:
        journey = only_row(Journey, visitor_id=visitor.pk, funnel_id=version.funnel_id)
        created = False
        if journey is None:
            journey, created = Journey.objects.get_or_create(
                visitor=visitor, funnel=version.funnel, defaults=_start(visitor, version)
            )
        # The rows this request has already read, not a query (and a join) for each again.
        journey.visitor, journey.funnel = visitor, version.funnel
        journey.version = stored_version(journey.version_id)
    if created and referral and REFERRALS_PER_ADDRESS.allows(address):
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
    with transaction.atomic():
        return finish(page.journey, page.step, outcome)


def finish(
    journey: Journey,
    step: StepBase,
    outcome: str = "",
    *,
    completed: Event | None = None,
    **conversion,
) -> str | None:
    """`advance`, and the events of a step done for the first time: step_completed, and
    converted (with `conversion`, e.g. an order's value) for the macro step. Returns the next
    step's key, if any. Pages, bookings, payments and tracked sites all end a step here; a
    tracked site wrote its own step_completed (`completed`): converted then follows it, at its
    moment, from its site, with a message id made from its one (a replay converts nobody)."""
    first_time, following = advance(journey, step, outcome)
    if first_time:
        visitor, version = journey.visitor, journey.version
        if completed is None:
            done = {"next": following or "", **({"outcome": outcome} if outcome else {})}
            record(EventName.STEP_COMPLETED, visitor, version, step.key, done)
        if step.macro:
            record(EventName.CONVERTED, visitor, version, step.key, conversion,
                   **_after(completed))  # fmt: skip
    return following


def _after(completed: Event | None) -> dict:
    if completed is None:
        return {}
    return {"occurred_at": completed.occurred_at, "site": completed.site,
            "message_id": f"{completed.message_id}/converted"}  # fmt: skip


def advance(journey: Journey, step: StepBase, outcome: str = "") -> tuple[bool, str | None]:
    """The journey's side of a completed step (the caller records the events): the step is
    done, the macro step converts, the next step is current. Returns whether the step was done
    for the first time, and the next step's key, if any."""
    spec = journey.version.spec
    following = spec.route(step, outcome or journey.outcome, journey.answers.get(step.key, {}))
    first_time = step.key not in journey.done
    if first_time:
        journey.done = [*journey.done, step.key]
        if step.macro:
            journey.converted_at = timezone.now()
    if following:
        journey.current_step = following
    journey.save()
    return first_time, following
