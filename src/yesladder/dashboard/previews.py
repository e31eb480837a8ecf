"""Each funnel's follow-up emails, and one of them as a lead would get it: filled with sample
values or a chosen lead's own, and built by the same code that builds the email the worker
sends (only the click tracking, added when a message is queued, is missing)."""

from dataclasses import dataclass

from django.urls import reverse

from yesladder.automation import compose, outbox
from yesladder.automation.models import Enrollment, Message
from yesladder.automation.runs import email_fields
from yesladder.funnels.models import FunnelVersion, current_versions
from yesladder.funnels.spec.automations import PLACEHOLDER
from yesladder.funnels.spec.schema import FunnelSpec, automation_emails
from yesladder.leads.models import Lead

SAMPLE_PROFILE = {
    "email": "ada@example.com",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "name": "Ada Lovelace",
    "company": "Analytical Engines Ltd",
}


@dataclass(frozen=True)
class EmailTemplate:
    funnel: str
    funnel_name: str
    version: int
    key: str
    subject: str
    sent_by: tuple[str, ...]  # the automations with an action that sends it


@dataclass(frozen=True)
class Preview:
    funnel: str
    version: int
    key: str
    subject: str
    # Both parts come out of templates marked safe, yet hold a lead's values: escape to show.
    html: str  # the whole HTML part: a document for a sandboxed frame, never the page itself
    text: str  # the plain-text part
    fields: tuple[tuple[str, str], ...]  # each placeholder the email uses, and its value
    lead_id: int | None  # whose values, or None for the sample


def email_templates() -> list[EmailTemplate]:
    """Every email of every funnel's current version, by funnel and key."""
    found = []
    for version in current_versions():
        spec = version.spec
        for key, email in sorted(spec.emails.items()):
            sent_by = tuple(a.key for a in spec.automations if key in automation_emails(a))
            found.append(
                EmailTemplate(spec.funnel, spec.name, version.number, key, email.subject, sent_by)
            )
    return found


def preview(funnel_key: str, email_key: str, lead: Lead | None = None) -> Preview:
    """The email `email_key` of the funnel's current version; LookupError when there is none."""
    version = FunnelVersion.objects.filter(funnel__key=funnel_key).current().first()
    if version is None or email_key not in version.spec.emails:
        raise LookupError(f"no email '{email_key}' in the funnel '{funnel_key}'")
    spec = version.spec
    fields = {**_fields(version, lead), **_step_link(spec, email_key)}
    rendered = compose.render(spec, email_key, fields)
    built = compose.build(_unsent(spec, email_key, rendered, fields["email"]), outbox.base_url())
    html = next(content for content, mimetype in built.alternatives if mimetype == "text/html")
    return Preview(
        funnel=spec.funnel,
        version=version.number,
        key=email_key,
        subject=built.subject,
        html=html,
        text=built.body,
        fields=_used(spec, email_key, fields),
        lead_id=lead.pk if lead else None,
    )


def _fields(version: FunnelVersion, lead: Lead | None) -> dict:
    if lead is None:
        spec = version.spec
        outcome = next((o for s in spec.steps for o in getattr(s, "outcomes", [])), None)
        return {**SAMPLE_PROFILE, "funnel_name": spec.name,
                "outcome": outcome.key if outcome else "",
                "outcome_title": outcome.title if outcome else ""}  # fmt: skip
    # The engine's own values (profile, latest quiz outcome), so the preview is what this lead
    # would get; the run is never saved.
    return email_fields(Enrollment(lead=lead, funnel=version.funnel), version.spec)


def _step_link(spec: FunnelSpec, email_key: str) -> dict:
    """An invitation's link to the step it invites to, as the engine adds it."""
    for automation in spec.automations:
        for _, action in automation.actions():
            if action.invite and action.invite.email == email_key:
                path = reverse("steps:step", args=[spec.funnel, action.invite.step])
                return {"step_link": outbox.base_url() + path}
    return {}


def _unsent(spec: FunnelSpec, email_key: str, rendered: compose.Rendered, to: str) -> Message:
    senders = [a for a in spec.automations if email_key in automation_emails(a)]
    marketing = any(a.marketing for a in senders) or not senders
    return Message(to=to, template=email_key, marketing=marketing, subject=rendered.subject,
                   text=rendered.text, html=rendered.html)  # fmt: skip


def _used(spec: FunnelSpec, email_key: str, fields: dict) -> tuple[tuple[str, str], ...]:
    email = spec.emails[email_key]
    source = "\n".join(filter(None, [email.subject, email.preheader, email.body]))
    names = dict.fromkeys(match[1] for match in PLACEHOLDER.finditer(source))
    return tuple((name, compose.clean_value(fields.get(name))) for name in names)
