"""What staff do to leads by hand: tag and untag (one lead or every lead a search matches),
unsubscribe or suppress, send the double opt-in confirmation again, start or stop a lead's
automation. Each change is written to the audit trail in its own transaction."""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from yesladder.automation import bounces, runs
from yesladder.automation.engine import facts_for
from yesladder.automation.models import Enrollment, Suppression, email_hash
from yesladder.funnels.models import Funnel
from yesladder.leads import emails
from yesladder.leads.models import Lead
from yesladder.team import audit
from yesladder.team.audit import Actor
from yesladder.tracking.models import Journey

MAX_TAG = 64
CHUNK = 1000


class Refused(ValueError):
    pass


@dataclass(frozen=True)
class Hand:
    """What the lead's page offers to do by hand."""

    suppressed: str  # the reason the address is suppressed, "" when it is not
    waiting_confirmation: bool
    runs: tuple[tuple[int, str, str], ...]  # (id, funnel/automation, state) of running runs
    automations: tuple[tuple[str, str], ...]  # ("funnel/key", name) that can be started


def at_hand(lead: Lead) -> Hand:
    suppression = Suppression.objects.filter(email_hash=email_hash(lead.email)).first()
    running = (Enrollment.objects.filter(lead=lead)
               .exclude(state__in=[Enrollment.State.DONE, Enrollment.State.EXITED])
               .select_related("funnel").order_by("started_at"))  # fmt: skip
    return Hand(
        suppressed=suppression.reason if suppression else "",
        waiting_confirmation=lead.confirmed_at is None and lead.consents.filter(
            double_optin=True, confirmed_at__isnull=True).exists(),
        runs=tuple((r.pk, f"{r.funnel.key}/{r.automation}", r.get_state_display())
                   for r in running),
        automations=tuple((f"{f}/{k}", f"{f}: {name}") for f, k, name in automations()),
    )  # fmt: skip


def clean_tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or len(tag) > MAX_TAG:
        raise Refused(f"tag: 1 to {MAX_TAG} characters")
    return tag


def retag(leads: QuerySet, tag: str, add: bool, by: Actor, search: str = "") -> int:
    """Add `tag` to (or take it from) every lead of `leads`; returns how many changed. Without
    `search` each lead's change is an audit entry of its own, with the tags before and after;
    with it (a whole list), one entry names the search and the count."""
    tag = clean_tag(tag)
    changed = []
    with transaction.atomic():
        for lead in leads.order_by("pk").only("pk", "tags").iterator(chunk_size=CHUNK):
            if add:
                tags = lead.tags if tag in lead.tags else [*lead.tags, tag]
            else:
                tags = [t for t in lead.tags if t != tag]
            if tags != lead.tags:
                changed.append((lead.pk, list(lead.tags), tags))
        # Written after the read: SQLite reads the rows it iterates as it goes.
        Lead.objects.bulk_update([Lead(pk=pk, tags=tags) for pk, _, tags in changed], ["tags"],
                                 batch_size=CHUNK)  # fmt: skip
        action = "lead.tag" if add else "lead.untag"
        if search and changed:
            audit.record(by, action.replace("lead.", "leads."), search,
                         after={"tag": tag, "leads": len(changed)})  # fmt: skip
        for pk, before, after in [] if search else changed:
            audit.record(by, action, f"lead {pk}", lead_id=pk, before={"tags": before},
                         after={"tags": after})  # fmt: skip
    return len(changed)


def suppress(lead: Lead, reason: str, by: Actor) -> bool:
    """Unsubscribe (reason `unsubscribed`) or suppress (`manual`) the lead's address: no
    marketing email goes to it again, and the CRM hears of it. False when it already was."""
    with transaction.atomic():
        made = bounces.suppress(lead.email, reason, f"by {by.name}")
        if made:
            action = (
                "lead.unsubscribe"
                if reason == Suppression.Reason.UNSUBSCRIBED
                else ("lead.suppress")
            )
            audit.record(
                by,
                action,
                f"lead {lead.pk}",
                lead_id=lead.pk,
                before={"suppressed": False},
                after={"suppressed": reason},
            )
    return made


def resend_confirmation(lead: Lead, request: HttpRequest, by: Actor) -> None:
    """The double opt-in email again, for the consent the lead gave last and has not
    confirmed."""
    if lead.confirmed_at is not None:
        raise Refused("the lead has confirmed already; nothing to send")
    consent = (
        lead.consents.filter(double_optin=True, confirmed_at__isnull=True)
        .exclude(funnel_version=None)
        .select_related("funnel_version__funnel")
        .order_by("-given_at")
        .first()
    )
    if consent is None:
        raise Refused("the lead gave no consent that waits for confirmation")
    version = consent.funnel_version
    journey = (
        Journey.objects.filter(visitor__lead=lead, funnel=version.funnel_id)
        .values_list("pk", flat=True)
        .first()
    )
    token = emails.confirm_token(lead, version.pk, consent.step_key, journey or 0)
    if not emails.send_confirmation(request, lead, version.funnel.name, token):
        raise Refused("not sent: the address had its emails for this hour; try later")
    audit.record(
        by,
        "lead.resend-confirmation",
        f"lead {lead.pk}",
        lead_id=lead.pk,
        after={"funnel": version.funnel.key},
    )


def automations() -> list[tuple[str, str, str]]:
    """What can be started by hand: (funnel key, automation key, name) of each funnel's
    current version."""
    found = []
    for funnel in Funnel.objects.order_by("key"):
        version = funnel.current_version()
        for automation in version.spec.automations if version else ():
            found.append((funnel.key, automation.key, automation.name or automation.key))
    return found


def start(lead: Lead, funnel_key: str, key: str, by: Actor) -> None:
    funnel = Funnel.objects.filter(key=funnel_key).first()
    version = funnel.current_version() if funnel else None
    automation = (
        next((a for a in version.spec.automations if a.key == key), None) if version else None
    )
    if automation is None:
        raise Refused(f"automation: {funnel_key}/{key} is not in a funnel's current version")
    now = timezone.now()
    with transaction.atomic():
        if not runs.enter(lead, version, automation, facts_for(lead, version, now), now=now):
            raise Refused(
                f"{funnel_key}/{key}: the lead ran it already, or is not one it is "
                "for (its `only:` condition)"
            )
        audit.record(
            by,
            "lead.automation-start",
            f"lead {lead.pk}",
            lead_id=lead.pk,
            after={"automation": f"{funnel_key}/{key}"},
        )


def stop(lead: Lead, enrollment_id: int, by: Actor) -> None:
    run = Enrollment.objects.filter(pk=enrollment_id, lead=lead).select_related("funnel").first()
    if run is None:
        raise Refused("automation: no such run of this lead")
    with transaction.atomic():
        if not runs.stop(run, f"stopped by {by.name}"):
            raise Refused("automation: that run had ended already")
        audit.record(
            by,
            "lead.automation-stop",
            f"lead {lead.pk}",
            lead_id=lead.pk,
            before={"automation": f"{run.funnel.key}/{run.automation}", "state": "running"},
            after={"state": "stopped"},
        )
