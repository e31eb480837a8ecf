"""Visitors, leads and identity stitching."""

import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from yesladder.analytics.progress import restitch
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.tracking.bots import is_bot
from yesladder.tracking.models import Event

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
MAX_PROFILE_VALUE = 200


class InvalidEmail(ValueError):
    pass


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if len(email) > 254:
        raise InvalidEmail("That email address is too long.")
    try:
        EmailValidator()(email)
    except ValidationError:
        raise InvalidEmail("Please enter a valid email address, like name@example.com.") from None
    return email


def new_visitor(user_agent: str, landing_url: str, referrer: str, query: dict) -> Visitor:
    """A visitor's first touch: where it landed and where it came from."""
    visitor = Visitor.objects.create(
        user_agent=user_agent[:512],
        is_bot=is_bot(user_agent),
        landing_url=landing_url[:2000],
        referrer=referrer[:2000],
        **{field: str(query.get(field, ""))[:200] for field in UTM_FIELDS},
    )
    visitor.first_request = True
    return visitor


@dataclass(frozen=True)
class ConsentGiven:
    text: str
    page_url: str
    ip: str | None
    user_agent: str
    double_optin: bool
    version_id: int | None
    step_key: str


def identify(visitor: Visitor, email: str, fields: dict, consent: ConsentGiven | None) -> Lead:
    """Attach the visitor to the lead with this email, fill its profile, stitch its history."""
    with transaction.atomic():
        lead, created = Lead.objects.select_for_update().get_or_create(
            email=email, defaults={"status": _status(consent)}
        )
        if consent is not None and lead.status == Lead.Status.IDENTIFIED:
            lead.status = _status(consent)  # a known address consents for the first time
            lead.save(update_fields=["status"])
        fill_profile(lead, fields, announce=not created)
        if created:
            _announce(lead)  # after its profile is filled: the CRM gets the whole of it once
        if consent is not None:
            Consent.objects.create(
                lead=lead,
                funnel_version_id=consent.version_id,
                step_key=consent.step_key,
                text=consent.text,
                page_url=consent.page_url[:2000],
                ip=consent.ip,
                user_agent=consent.user_agent[:512],
                double_optin=consent.double_optin,
            )
        stitch(visitor, lead)
    return lead


def _announce(lead: Lead) -> None:
    """A new lead, for the CRM's webhooks (in this transaction: no lead, no announcement)."""
    from yesladder.automation import hooks
    from yesladder.automation.engine import lead_summary

    hooks.publish(hooks.LEAD_CREATED, lead_summary(lead), lead=lead, key=f"lead:{lead.pk}:created")


def _status(consent: ConsentGiven | None) -> str:
    if consent is None:
        return Lead.Status.IDENTIFIED
    return Lead.Status.PENDING if consent.double_optin else Lead.Status.CONFIRMED


def fill_profile(lead: Lead, fields: dict, *, announce: bool = True) -> None:
    """Progressive profiling: what the lead tells us is added to what we knew; a change is
    announced to the CRM's webhooks (`lead.updated`) unless the caller announces the lead."""
    given = {
        str(k)[:64]: str(v)[:MAX_PROFILE_VALUE]
        for k, v in fields.items()
        if v not in ("", None) and not isinstance(v, dict | list)
    }
    changed = dict(given.items() - lead.profile.items())
    if changed:
        lead.profile = {**lead.profile, **given}
        lead.save(update_fields=["profile"])
        if announce:
            _announce_update(lead, changed)


def _announce_update(lead: Lead, changed: dict) -> None:
    from yesladder.automation import hooks
    from yesladder.automation.engine import lead_summary

    # Each change is its own event: a profile that changes back is news to the CRM too.
    payload = {**lead_summary(lead), "changed": sorted(changed)}
    key = f"lead:{lead.pk}:updated:{secrets.token_hex(8)}"
    hooks.publish(hooks.LEAD_UPDATED, payload, lead=lead, key=key)


def stitch(visitor: Visitor, lead: Lead) -> None:
    """The visitor's anonymous history becomes the lead's history."""
    if visitor.lead_id != lead.pk:
        visitor.lead = lead
        visitor.save(update_fields=["lead", "last_seen_at"])
    anonymous = Event.objects.filter(visitor=visitor, lead__isnull=True)
    stitched = list(anonymous.values_list("pk", flat=True)[:1000])
    anonymous.update(lead=lead)
    restitch(visitor)
    if stitched:  # what the visitor did before giving its email counts for automations now
        from yesladder.automation.engine import on_events

        on_events(list(Event.objects.filter(pk__in=stitched)))


def confirm(lead: Lead, ip: str | None) -> bool:
    """Double opt-in: the lead clicked the link. Returns False when it was confirmed before."""
    with transaction.atomic():
        now = timezone.now()
        first = Lead.objects.filter(pk=lead.pk, confirmed_at__isnull=True).update(
            status=Lead.Status.CONFIRMED, confirmed_at=now
        )
        lead.consents.filter(confirmed_at__isnull=True).update(confirmed_at=now, confirmed_ip=ip)
    lead.refresh_from_db()
    return bool(first)
