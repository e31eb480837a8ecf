"""The one write path of the event log. Funnel pages and the tracking API both call `record`."""

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from yesladder.analytics.progress import recount_visitor
from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.tracking.events import EventName
from yesladder.tracking.models import Event, Journey

MAX_PROPERTY_TEXT = 500


def record(
    name: EventName,
    visitor: Visitor,
    version: FunnelVersion | None = None,
    step_key: str = "",
    properties: dict | None = None,
    occurred_at=None,
    message_id: str | None = None,
    site=None,
) -> Event:
    from yesladder.analytics import progress
    from yesladder.automation.engine import on_events

    with transaction.atomic():  # the event and what automation decides from it, or neither
        event = Event.objects.create(
            **({"message_id": message_id} if message_id else {}),
            name=EventName(name).value,
            visitor=visitor,
            lead_id=visitor.lead_id,
            funnel_version=version,
            step_key=step_key,
            properties=bounded(properties or {}),
            occurred_at=occurred_at or timezone.now(),
            is_bot=visitor.is_bot,
            site=site,
        )
        if not _held(event):
            progress.on_events([event])
            on_events([event])
    return event


_holding = threading.local()


def _held(event: Event) -> bool:
    """Inside `reacting_together`, the parts that react get the event when the block ends."""
    held = getattr(_holding, "events", None)
    if held is not None:
        held.append(event)
    return held is not None


@contextmanager
def reacting_together() -> Iterator[None]:
    """Events recorded in this block are written at once, as ever (later reads in the block
    see them); the parts that react (journeys' progress, automations) get all of them once,
    when the block ends, in the same transaction. A page's request records up to four events:
    each had recomputed the lead's standing on its own."""
    from yesladder.analytics import progress
    from yesladder.automation.engine import on_events

    outer = getattr(_holding, "events", None)
    if outer is not None:  # already inside a block: its end reacts
        yield
        return
    _holding.events = held = []
    try:
        yield
    finally:
        _holding.events = None
    if held:
        with transaction.atomic():
            progress.on_events(held)
            on_events(held)


def bounded(properties: dict) -> dict:
    """Visitor-supplied values are cut to a sane size before they are stored."""
    return {
        str(k)[:64]: v[:MAX_PROPERTY_TEXT] if isinstance(v, str) else v
        for k, v in list(properties.items())[:50]
    }


def move_back_in_time(visitor_id, by: dt.timedelta) -> bool:
    """Shift one synthetic visitor's whole history `by` into the past: its events, journeys,
    and the lead and consents it created. Only `yesladder simulate` calls this, to spread
    a crowd that walked the pages in minutes over the days a real one would take.
    Returns False when this database does not know the visitor (another server's)."""
    visitor = Visitor.objects.filter(pk=visitor_id).first()
    if visitor is None:
        return False
    since = visitor.created_at
    with transaction.atomic():
        Visitor.objects.filter(pk=visitor.pk).update(
            created_at=F("created_at") - by, last_seen_at=F("last_seen_at") - by
        )
        Event.objects.filter(visitor=visitor).update(
            occurred_at=F("occurred_at") - by, received_at=F("received_at") - by
        )
        for column in ("started_at", "updated_at", "converted_at"):
            Journey.objects.filter(visitor=visitor, **{f"{column}__isnull": False}).update(
                **{column: F(column) - by}
            )
        if visitor.lead_id:
            created_here = Lead.objects.filter(pk=visitor.lead_id, created_at__gte=since)
            created_here.update(created_at=F("created_at") - by)
            consents = Consent.objects.filter(lead_id=visitor.lead_id, given_at__gte=since)
            consents.update(given_at=F("given_at") - by)
        recount_visitor(visitor)
    return True
