"""Visitors and leads: first touch, email addresses, consent, progressive profiles.
Identity stitching (a visitor's history joining a lead) is the event log's: tracking.identity."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import timezone

from yesladder import reactions
from yesladder.leads.bots import is_bot
from yesladder.leads.models import Lead, Visitor

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


def consent_given(
    text: str,
    page_url: str,
    ip: str | None,
    user_agent: str,
    *,
    double_optin: bool = False,
    version_id: int | None = None,
    step_key: str = "",
) -> ConsentGiven:
    """What a visitor agreed to, where and how, as kept on the lead: a funnel's opt-in page
    and a tracked site's form (the tracking API's context.consent) both make it here."""
    return ConsentGiven(
        text=text.strip()[:500], page_url=page_url[:2000], ip=ip or None,
        user_agent=user_agent[:512], double_optin=double_optin, version_id=version_id,
        step_key=step_key,
    )  # fmt: skip


def fill_profile(lead: Lead, fields: dict, *, announce: bool = True) -> None:
    """Progressive profiling: what the lead tells us is added to what we knew; a change is
    announced (LEAD_UPDATED: the CRM hears `lead.updated`) unless the caller announces the lead."""
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
            reactions.announce(reactions.LEAD_UPDATED, lead=lead, changed=changed)


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
