"""Identity stitching: a visitor gives its email (or a tracked site names its user), and the
visitor's anonymous history in the event log becomes the lead's.

The parts that react (progress re-counts the person, automation acts on what the visitor did
before, the CRM hears of a new lead) are told through `yesladder.reactions`, in this
transaction: no lead, no announcement.
"""

from django.db import transaction

from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.leads.services import ConsentGiven, fill_profile
from yesladder.reactions import LEAD_CREATED, STITCHED, announce
from yesladder.tracking.models import Event
from yesladder.tracking.services import hear_before_stitching, stitched_while_held

STITCH_ANNOUNCED = 1000  # the anonymous events handed on to the reactors, at most


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
        if created:  # after its profile is filled: the CRM gets the whole of it once
            announce(LEAD_CREATED, lead=lead)
        if consent is not None:
            _keep_consent(lead, consent)
        stitch(visitor, lead)
    return lead


def _keep_consent(lead: Lead, consent: ConsentGiven) -> None:
    Consent.objects.create(
        lead=lead,
        funnel_version_id=consent.version_id,
        step_key=consent.step_key,
        text=consent.text,
        page_url=consent.page_url,
        ip=consent.ip,
        user_agent=consent.user_agent,
        double_optin=consent.double_optin,
    )


def _status(consent: ConsentGiven | None) -> str:
    if consent is None:
        return Lead.Status.IDENTIFIED
    return Lead.Status.PENDING if consent.double_optin else Lead.Status.CONFIRMED


def stitch(visitor: Visitor, lead: Lead) -> None:
    """The visitor's anonymous history becomes the lead's history. The visitor's row is locked
    first, so a tracking batch writing this visitor's events at the same moment is stitched too
    (tracking.ingestion._load_visitors says how). The events of this request written so far
    are heard as written first; the stitch hands on only the earlier ones (the request's own
    are settled, with their lead, at its end): each event is heard once."""
    pending = hear_before_stitching()
    with transaction.atomic():
        locked = Visitor.objects.select_for_update().filter(pk=visitor.pk)
        list(locked.values_list("pk", flat=True))
        joined = visitor.lead_id != lead.pk
        if joined:
            visitor.lead = lead
            visitor.save(update_fields=["lead", "last_seen_at"])
        anonymous = Event.objects.filter(visitor=visitor, lead__isnull=True)
        stitched = list(anonymous.values_list("pk", flat=True)[:STITCH_ANNOUNCED])
        anonymous.update(lead=lead)
        stitched_while_held(visitor.pk, lead.pk)
        # What the visitor did before giving its email counts for the lead now.
        earlier = [pk for pk in stitched if pk not in pending]
        events = list(Event.objects.filter(pk__in=earlier)) if earlier else []
        announce(STITCHED, visitor=visitor, events=events, joined=joined)
