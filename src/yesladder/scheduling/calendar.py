"""Calendar invites (.ics, RFC 5545) built with icalendar. Pure module (no Django).

Times are written in UTC (`...Z`): every calendar shows them in its owner's zone, and no
VTIMEZONE has to be right. A changed or cancelled invite keeps its UID and raises SEQUENCE, so
calendars update the entry instead of adding a second one.
"""

import datetime as dt
from dataclasses import dataclass

from icalendar import Calendar, vCalAddress, vText
from icalendar import Event as VEvent

PRODUCT_ID = "-//yesladder//micro-commitment funnels//EN"


@dataclass(frozen=True)
class Invite:
    uid: str
    start: dt.datetime
    end: dt.datetime
    summary: str
    description: str
    organizer_name: str
    organizer_email: str
    attendee_email: str
    url: str = ""
    location: str = ""
    sequence: int = 0
    cancelled: bool = False
    stamp: dt.datetime | None = None


def ics(invite: Invite) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if invite.cancelled else "REQUEST")
    event = VEvent()
    event.add("uid", invite.uid)
    event.add("dtstamp", (invite.stamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC))
    event.add("dtstart", invite.start.astimezone(dt.UTC))
    event.add("dtend", invite.end.astimezone(dt.UTC))
    event.add("summary", invite.summary)
    event.add("description", invite.description)
    event.add("sequence", invite.sequence)
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    if invite.url:
        event.add("url", invite.url)
    if invite.location:
        event.add("location", invite.location)
    organizer = vCalAddress(f"mailto:{invite.organizer_email}")
    organizer.params["cn"] = vText(invite.organizer_name)
    event["organizer"] = organizer
    attendee = vCalAddress(f"mailto:{invite.attendee_email}")
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = vText("ACCEPTED")
    event.add("attendee", attendee, encode=0)
    calendar.add_component(event)
    return calendar.to_ical()
