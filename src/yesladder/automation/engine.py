"""Automations at work: events start leads on them, and the worker's tick wakes the waiting
ones and fires the timed triggers; each run's actions are in automation.runs.

`on_events` is a reactor of the event log (registered in automation.apps): it runs inside the
transaction that recorded the events, so a decision (an enrollment, an outbox row) commits with
the event that caused it or not at all.
"""

import datetime as dt
from dataclasses import dataclass, replace

from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from yesladder.automation import hooks, outbox, standing
from yesladder.automation.hooks import lead_summary
from yesladder.automation.models import Enrollment, Message, ScoreChange, Standing
from yesladder.automation.runs import check_exits, enter, run
from yesladder.automation.standing import Facts, Seen
from yesladder.events import EventName
from yesladder.funnels.models import FunnelVersion, Step, current_versions
from yesladder.funnels.spec.automations import Automation
from yesladder.leads.models import Lead
from yesladder.tracking.models import Event, Journey

HISTORY = 2000  # the most recent events a lead's standing is computed from
LATE = dt.timedelta(days=1)  # timed triggers older than this are skipped, not sent late
STALE_STANDING = dt.timedelta(hours=1)  # scores decay: standings are recomputed this often
BATCH = 200


# --- what is known about a lead ------------------------------------------------------------------


def facts_for(lead: Lead, version: FunnelVersion, now: dt.datetime) -> Facts:
    """The lead's events in this funnel (and on tracked sites), its profile, tags, score and
    segments, as the spec of `version` defines them."""
    spec = version.spec
    events = _seen(lead, version.funnel_id)
    known = Facts(events=events, profile={**lead.profile, "email": lead.email},
                  tags=frozenset(lead.tags))  # fmt: skip
    known = replace(known, score=standing.score(events, now, spec.scoring, _costs(version)))
    return replace(known, segments=standing.segments(known, spec.scoring, spec.segments))


def _seen(lead: Lead, funnel_id: int) -> tuple[Seen, ...]:
    rows = (
        Event.objects.filter(lead=lead, is_bot=False)
        .filter(Q(funnel_version__funnel_id=funnel_id) | Q(funnel_version__isnull=True))
        .order_by("-occurred_at")
        .values_list("name", "step_key", "occurred_at", "label", "properties")[:HISTORY]
    )
    clicks = Message.objects.filter(
        lead=lead, version__funnel_id=funnel_id, clicked_at__isnull=False
    ).values_list("template", "clicked_at")
    return tuple(Seen(n, s, at, label, p or {}) for n, s, at, label, p in rows) + tuple(
        Seen("email_clicked", "", at, template) for template, at in clicks
    )


# Keyed by id and digest: SQLite gives a rolled-back version's id to the next one, which must
# not inherit the costs of another ladder.
_step_costs: dict[tuple[int, str], dict[str, float]] = {}


@receiver(post_save, sender=FunnelVersion)
def _forget_step_costs(**kwargs) -> None:
    # Ids come back after a rollback (tests, a failed load), as funnels.models says.
    _step_costs.clear()


def _costs(version: FunnelVersion) -> dict[str, float]:
    costs = _step_costs.get((version.pk, version.digest))
    if costs is None:
        costs = _step_costs[version.pk, version.digest] = dict(
            Step.objects.filter(version=version).values_list("key", "commitment_cost")
        )
    return costs


# --- events ------------------------------------------------------------------------------------


def on_events(events: list[Event]) -> None:
    """Everything new events of known leads change: their standing, the automations they
    start, the runs they end at an exit goal, and the CRM's copy. A batch from the tracking API
    is handled per lead and funnel, not per event."""
    by_lead: dict[int, list[Event]] = {}
    for event in events:
        if event.lead_id is not None and not event.is_bot:
            by_lead.setdefault(event.lead_id, []).append(event)
    for lead in Lead.objects.filter(pk__in=by_lead):
        mine = by_lead[lead.pk]
        for version, theirs in _by_version(lead, mine).items():
            refresh(lead, version, theirs)
        for event in mine:
            _publish_event(event, lead)


def on_stitched(visitor, events: list[Event], **_) -> None:
    """Reactor (reactions.STITCHED): what the visitor did before giving its email counts for
    the lead's automations now."""
    if events:
        on_events(events)


def _by_version(lead: Lead, events: list[Event]) -> dict[FunnelVersion, list[Event]]:
    """Funnel events belong to their version; a tracked site's events to every funnel the
    lead walks."""
    ids = {e.funnel_version_id for e in events if e.funnel_version_id}
    if any(e.funnel_version_id is None for e in events):
        ids |= set(Journey.objects.filter(visitor__lead=lead).values_list("version_id", flat=True))
    loaded = _loaded_versions(events)  # a page's events carry theirs: no query to read them again
    versions = [loaded[i] for i in ids if i in loaded]
    if len(versions) < len(ids):
        missing = ids - loaded.keys()
        versions += FunnelVersion.objects.filter(pk__in=missing).select_related("funnel")
    return {
        version: [e for e in events if e.funnel_version_id in (version.pk, None)]
        for version in versions
    }


def _loaded_versions(events: list[Event]) -> dict[int, FunnelVersion]:
    return {
        e.funnel_version_id: e.funnel_version for e in events
        if Event.funnel_version.is_cached(e) and e.funnel_version is not None
        and FunnelVersion.funnel.is_cached(e.funnel_version)
    }  # fmt: skip


def refresh(lead: Lead, version: FunnelVersion, events: list[Event] = (), now=None) -> Facts:
    """Recompute the lead's standing and act on what changed."""
    now = now or timezone.now()
    with transaction.atomic():
        facts = facts_for(lead, version, now)
        before = _store_standing(lead, version.funnel, facts, now, events)
        spec = version.spec
        for automation in spec.automations:
            if _fires(automation, facts, before, events):
                enter(lead, version, automation, facts, now=now)
        check_exits(lead, version.funnel, facts, now)
    return facts


def _store_standing(lead, funnel, facts: Facts, now, events: list[Event]) -> Facts:
    """Save the new standing; returns the one before (score and segments)."""
    row, created = Standing.objects.select_for_update().get_or_create(lead=lead, funnel=funnel)
    before = Facts(score=row.score, segments=frozenset(row.segments))
    segments = sorted(facts.segments)
    moved = abs(row.score - facts.score) >= 0.5 or segments != sorted(row.segments)
    row.score, row.segments, row.computed_at = facts.score, segments, now
    if events:
        row.last_event_at = max(filter(None, [row.last_event_at, *(e.occurred_at for e in events)]))
    row.save()
    if moved or created:
        ScoreChange.objects.create(lead=lead, funnel=funnel, score=facts.score,
                                   segments=segments, at=now)  # fmt: skip
    return before


def _fires(automation: Automation, facts: Facts, before: Facts, events: list[Event]) -> bool:
    when = automation.when
    if when.did is not None:
        return any(
            when.did.matches(e.name, e.step_key, e.label, e.properties or {}) for e in events
        )
    if when.segment is not None:
        return when.segment in facts.segments and when.segment not in before.segments
    if when.score is not None:
        return when.score.holds(facts.score) and not when.score.holds(before.score)
    return False  # inactive and session triggers are the tick's


def _publish_event(event: Event, lead: Lead) -> None:
    topic = {EventName.STEP_COMPLETED: hooks.STEP_COMPLETED,
             EventName.CONVERTED: hooks.LEAD_CONVERTED}.get(event.name)  # fmt: skip
    if topic:
        payload = {
            **lead_summary(lead),
            "step": event.step_key,
            "event": event.name,
            "properties": event.properties,
            "occurred_at": event.occurred_at.isoformat(),
        }
        hooks.publish(topic, payload, lead=lead, key=f"event:{event.message_id}")


# --- the worker's tick -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticked:
    woken: int
    inactive: int
    sessions: int
    reminders: int
    standings: int
    recovered: int

    def total(self) -> int:
        return sum(self.__dict__.values())


def tick(now: dt.datetime | None = None) -> Ticked:
    """The time-driven part of automation; safe to run from several workers at once (every
    piece claims its rows with a conditional update or a unique key)."""
    now = now or timezone.now()
    return Ticked(
        woken=wake_due(now),
        inactive=enter_inactive(now),
        sessions=enter_around_sessions(now),
        reminders=send_reminders(now),
        standings=refresh_stale(now),
        recovered=outbox.recover_stale(now),
    )


def wake_due(now: dt.datetime) -> int:
    due = Enrollment.objects.filter(state=Enrollment.State.WAITING, wake_at__lte=now)
    woken = 0
    for enrollment in due.select_related("version__funnel", "lead")[:BATCH]:
        with transaction.atomic():
            claimed = Enrollment.objects.filter(
                pk=enrollment.pk, state=Enrollment.State.WAITING, wake_at__lte=now
            ).update(state=Enrollment.State.ACTIVE, wake_at=None)
            if claimed:
                run(enrollment, facts_for(enrollment.lead, enrollment.version, now), now)
                woken += 1
    return woken


def enter_inactive(now: dt.datetime) -> int:
    entered = 0
    for version in current_versions():
        for automation in version.spec.automations:
            if automation.when.inactive is None:
                continue
            quiet = Standing.objects.filter(
                funnel=version.funnel, last_event_at__lte=now - automation.when.inactive
            ).exclude(lead__enrollments__funnel=version.funnel,
                      lead__enrollments__automation=automation.key)  # fmt: skip
            for row in quiet.select_related("lead")[:BATCH]:
                facts = facts_for(row.lead, version, now)
                entered += enter(row.lead, version, automation, facts, now=now)
    return entered


def enter_around_sessions(now: dt.datetime) -> int:
    from yesladder.scheduling.models import Booking, Registration

    entered = 0
    for version in current_versions():
        for automation in version.spec.automations:
            around = automation.when.session
            if around is None:
                continue
            moment = now - around.offset()  # sessions starting by then are due
            window = {"start__lte": moment, "start__gt": moment - LATE}
            bookings = Booking.objects.filter(
                version__funnel=version.funnel, step_key=around.step,
                status=Booking.Status.BOOKED, **window,
            ).values_list("pk", "lead_id")  # fmt: skip
            seats = Registration.objects.filter(
                session__funnel=version.funnel, session__step_key=around.step,
                status=Registration.Status.REGISTERED,
                **{f"session__{k}": v for k, v in window.items()},
            ).values_list("pk", "lead_id")  # fmt: skip
            for occurrence, lead_id in [(f"booking:{pk}", lead) for pk, lead in bookings] + [
                (f"registration:{pk}", lead) for pk, lead in seats
            ]:
                entered += _enter_once(lead_id, version, automation, occurrence, now)
    return entered


def _enter_once(lead_id, version, automation, occurrence, now) -> bool:
    done = Enrollment.objects.filter(
        lead_id=lead_id, funnel=version.funnel, automation=automation.key, occurrence=occurrence
    ).exists()
    if done:
        return False
    lead = Lead.objects.get(pk=lead_id)
    with transaction.atomic():
        return enter(lead, version, automation, facts_for(lead, version, now), occurrence, now)


def send_reminders(now: dt.datetime) -> int:
    """The reminders each booking and registration wrote when it was made."""
    from yesladder.automation import reminders
    from yesladder.scheduling.models import Reminder

    sent = 0
    due = Reminder.objects.filter(sent_at=None, due_at__lte=now, due_at__gt=now - LATE)
    for reminder in due[:BATCH]:
        with transaction.atomic():
            if Reminder.objects.filter(pk=reminder.pk, sent_at=None).update(sent_at=now):
                sent += reminders.queue(reminder)
    return sent


def refresh_stale(now: dt.datetime) -> int:
    """Scores decay with time: standings not recomputed lately are, so segments stay current
    (and leads drift into `low-engagement`, which may start a nurture automation)."""
    versions = {v.funnel_id: v for v in current_versions()}
    stale = Standing.objects.filter(computed_at__lt=now - STALE_STANDING).select_related("lead")
    count = 0
    for row in stale.order_by("computed_at")[:BATCH]:
        version = versions.get(row.funnel_id)
        if version is not None:
            refresh(row.lead, version, now=now)
            count += 1
    return count
