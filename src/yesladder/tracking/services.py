"""The one write path of the event log. Funnel pages and the tracking API both call `record`."""

from django.utils import timezone

from yesladder.funnels.models import FunnelVersion
from yesladder.leads.models import Visitor
from yesladder.tracking.events import EventName
from yesladder.tracking.models import Event

MAX_PROPERTY_TEXT = 500


def record(
    name: EventName,
    visitor: Visitor,
    version: FunnelVersion | None = None,
    step_key: str = "",
    properties: dict | None = None,
    occurred_at=None,
) -> Event:
    return Event.objects.create(
        name=EventName(name).value,
        visitor=visitor,
        lead_id=visitor.lead_id,
        funnel_version=version,
        step_key=step_key,
        properties=_bounded(properties or {}),
        occurred_at=occurred_at or timezone.now(),
        is_bot=visitor.is_bot,
    )


def _bounded(properties: dict) -> dict:
    """Visitor-supplied values are cut to a sane size before they are stored."""
    return {
        str(k)[:64]: v[:MAX_PROPERTY_TEXT] if isinstance(v, str) else v
        for k, v in list(properties.items())[:50]
    }
