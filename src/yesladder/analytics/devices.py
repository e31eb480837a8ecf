"""Device type from a user agent: coarse on purpose (a report row per device type, not per
model). Pure."""

import re

TABLET = re.compile(r"iPad|Tablet|PlayBook|Silk|Kindle|Android(?!.*Mobile)", re.IGNORECASE)
MOBILE = re.compile(r"Mobi|iPhone|iPod|Android.*Mobile|Windows Phone|Opera Mini", re.IGNORECASE)
DESKTOP = re.compile(r"Windows NT|Macintosh|X11|Linux|CrOS", re.IGNORECASE)


def device_type(user_agent: str) -> str:
    """mobile, tablet, desktop, or "" when unknown (server-side libraries send none)."""
    agent = user_agent[:512]
    if TABLET.search(agent):
        return "tablet"
    if MOBILE.search(agent):
        return "mobile"
    if DESKTOP.search(agent):
        return "desktop"
    return ""
