"""An automation's runs: a lead enters once (per occurrence), each run does its actions in order
until a wait, an exit goal or the end, and every action that sends or calls out writes a row (an
outbox message, a webhook delivery) in the caller's transaction for the worker to deliver.
"""

import datetime as dt
import logging
from dataclasses import replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from yesladder.automation import compose, email_tests, hooks, outbox, standing
from yesladder.automation.hooks import lead_summary
from yesladder.automation.models import Enrollment, Message
from yesladder.automation.standing import Facts
from yesladder.funnels.models import Funnel, stored_version
from yesladder.funnels.spec.automations import Action, Automation
from yesladder.funnels.spec.schema import FunnelSpec, Quiz
from yesladder.leads.models import Lead
from yesladder.leads.services import fill_profile
from yesladder.offers import links
from yesladder.offers.models import Order
from yesladder.tracking.models import Journey
from yesladder.tracking.services import quiz_results

logger = logging.getLogger(__name__)

MAX_ACTIONS_PER_RUN = 100  # a run that never waits still ends


def enter(lead, version, automation: Automation, facts: Facts, occurrence="", now=None) -> bool:
    """Start the lead on the automation, once (per occurrence); False when it may not enter."""
    now = now or timezone.now()
    if automation.only is not None and not standing.holds(automation.only, facts):
        return False
    try:
        with transaction.atomic():
            enrollment, created = Enrollment.objects.get_or_create(
                lead=lead, funnel=version.funnel, automation=automation.key,
                occurrence=occurrence,
                defaults={"version": version, "position": "0", "started_at": now},
            )  # fmt: skip
    except IntegrityError:
        return False  # entered at the same moment by another event
    if created:
        run(enrollment, facts, now)
    return created


def run(enrollment: Enrollment, facts: Facts, now: dt.datetime) -> None:
    """Do the run's actions from its position until a wait, an exit goal or the end."""
    spec = enrollment.version.spec
    automation = _automation(enrollment)
    plan = dict(automation.actions()) if automation else {}
    path = enrollment.position
    for _ in range(MAX_ACTIONS_PER_RUN):
        reason = _exit_goal(automation, facts) if automation else ""
        if reason:
            return _end(enrollment, Enrollment.State.EXITED, now, reason)
        action = plan.get(path)
        if action is None:
            return _end(enrollment, Enrollment.State.DONE, now)
        if action.wait is not None:
            return _wait(enrollment, following(path, plan), now + action.wait)
        if action.branch is not None:
            taken = "then" if standing.holds(action.branch.if_, facts) else "else"
            path = f"{path}.{taken}.0" if f"{path}.{taken}.0" in plan else following(path, plan)
            continue
        facts = _act(enrollment, spec, path, action, facts, now)
        path = following(path, plan)
    logger.warning(
        "run %s did %s actions without waiting; ended", enrollment.pk, MAX_ACTIONS_PER_RUN
    )
    return _end(enrollment, Enrollment.State.DONE, now)


def following(path: str, plan: dict) -> str:
    """The path after `path`: its next sibling, else the next sibling of the branch it is in;
    "" at the end of the automation."""
    while path:
        head, _, last = path.rpartition(".")
        sibling = f"{head}.{int(last) + 1}" if head else str(int(last) + 1)
        if sibling in plan:
            return sibling
        path = head.rpartition(".")[0]  # "1.then" → "1": continue after the branch
    return ""


def _exit_goal(automation: Automation, facts: Facts) -> str:
    for index, goal in enumerate(automation.exit):
        if standing.holds(goal, facts):
            return f"exit goal {index + 1} reached"
    return ""


def stop(enrollment: Enrollment, reason: str, now: dt.datetime | None = None) -> bool:
    """End a run by hand: it takes no further action. False when it had ended already."""
    if enrollment.state in (Enrollment.State.DONE, Enrollment.State.EXITED):
        return False
    _end(enrollment, Enrollment.State.EXITED, now or timezone.now(), reason)
    return True


def _end(enrollment: Enrollment, state: str, now, reason: str = "") -> None:
    enrollment.state, enrollment.ended_at, enrollment.exit_reason = state, now, reason
    enrollment.position, enrollment.wake_at = "", None
    enrollment.save(update_fields=["state", "ended_at", "exit_reason", "position", "wake_at",
                                   "updated_at"])  # fmt: skip


def _wait(enrollment: Enrollment, next_path: str, until: dt.datetime) -> None:
    enrollment.state, enrollment.position, enrollment.wake_at = (
        Enrollment.State.WAITING,
        next_path,
        until,
    )
    enrollment.save(update_fields=["state", "position", "wake_at", "updated_at"])


def check_exits(lead: Lead, funnel: Funnel, facts: Facts, now) -> None:
    """A lead who reached an exit goal leaves its waiting runs now, not when they wake."""
    for enrollment in Enrollment.objects.filter(
        lead=lead, funnel=funnel, state=Enrollment.State.WAITING
    ):
        automation = _automation(enrollment)
        reason = _exit_goal(automation, facts) if automation else ""
        if reason:
            _end(enrollment, Enrollment.State.EXITED, now, reason)


def _automation(enrollment: Enrollment) -> Automation | None:
    spec = stored_version(enrollment.version_id).spec
    return next((a for a in spec.automations if a.key == enrollment.automation), None)


# --- actions -----------------------------------------------------------------------------------


def _act(enrollment, spec: FunnelSpec, path: str, action: Action, facts: Facts, now) -> Facts:
    lead = enrollment.lead
    kind = action.kind()
    if kind == "email":
        _email(enrollment, spec, action.email, {})
    elif kind == "invite":
        link = outbox.base_url() + reverse("steps:step", args=[spec.funnel, action.invite.step])
        _email(enrollment, spec, action.invite.email, {"step_link": link})
    elif kind == "tag" and action.tag not in lead.tags:
        lead.tags = [*lead.tags, action.tag]
        lead.save(update_fields=["tags"])
        facts = replace(facts, tags=facts.tags | {action.tag})
        _publish(enrollment, path, "lead.tagged", {"tag": action.tag})
    elif kind == "set":
        fill_profile(lead, action.set)
        facts = replace(facts, profile={**facts.profile, **lead.profile})
    elif kind == "webhook":
        _publish(enrollment, path, action.webhook, {"automation": enrollment.automation})
    elif kind == "notify":
        _notify(enrollment, spec, path, action)
    return facts


def email_fields(enrollment: Enrollment, spec: FunnelSpec) -> dict:
    """The placeholder values of an email this run sends (previews use them too)."""
    lead = enrollment.lead
    journey = (
        Journey.objects.filter(visitor__lead=lead, funnel=enrollment.funnel)
        .exclude(outcome="")
        .order_by("-updated_at")
        .first()
    )
    outcome = journey.outcome if journey else ""
    quizzes = [step for step in spec.steps if isinstance(step, Quiz)]
    titles = {o.key: o.title for step in quizzes for o in step.results()}
    scored = [r for r in quiz_results(lead) if r["funnel"] == spec.funnel]
    score = str(scored[-1]["score"]) if scored else ""
    return {**lead.profile, "email": lead.email, "funnel_name": spec.name, "score": score,
            "outcome": outcome, "outcome_title": titles.get(outcome, ""),
            **_order_links(lead, enrollment.funnel_id)}  # fmt: skip


def _order_links(lead, funnel_id: int) -> dict:
    """The lead's latest order in this funnel, so an email about it can link to it and to its
    Cancel ({{ order_link }}, {{ cancel_link }})."""
    order = (
        Order.objects.filter(lead=lead, version__funnel_id=funnel_id, started_at__isnull=False)
        .order_by("-created_at")
        .first()
    )
    if order is None:
        return {}
    return {"order_link": links.order_url(order), "cancel_link": links.cancel_url(order)}


def _email(enrollment: Enrollment, spec: FunnelSpec, email_key: str, extra: dict) -> Message:
    lead = enrollment.lead
    automation = _automation(enrollment)
    variant = email_tests.variant_for(spec, email_key, lead.pk)
    fields = {**email_fields(enrollment, spec), **extra}
    rendered = compose.render(spec, email_key, fields, variant)
    # One (lead, email) pair is sent once, whichever run or version decides it again.
    key = f"{spec.funnel}:{email_key}:{lead.pk}"
    if enrollment.occurrence:
        key += f":{enrollment.occurrence}"
    draft = outbox.Draft(key=key, to=lead.email, subject=rendered.subject, text=rendered.text,
                         html=rendered.html, template=email_key, variant=variant,
                         marketing=automation.marketing if automation else True)  # fmt: skip
    return outbox.enqueue(draft, lead=lead, version=enrollment.version, enrollment=enrollment)


def _notify(enrollment: Enrollment, spec: FunnelSpec, path: str, action: Action) -> None:
    fields = email_fields(enrollment, spec)
    fields["lead_url"] = outbox.base_url() + reverse("dashboard:lead", args=[enrollment.lead_id])
    rendered = compose.render_text(action.notify.subject, action.notify.body, fields)
    for address in dict.fromkeys([*spec.team, *settings.TEAM_EMAILS]):
        draft = outbox.Draft(key=f"notify:{enrollment.pk}:{path}:{address}", to=address,
                             subject=rendered.subject, text=rendered.text, html=rendered.html,
                             template="notify", marketing=False)  # fmt: skip
        outbox.enqueue(draft, lead=enrollment.lead, version=enrollment.version,
                       enrollment=enrollment)  # fmt: skip


def _publish(enrollment: Enrollment, path: str, topic: str, data: dict) -> None:
    payload = {**lead_summary(enrollment.lead), **data}
    hooks.publish(topic, payload, lead=enrollment.lead, key=f"run:{enrollment.pk}:{path}")
