"""Errors reach someone: Sentry (`SENTRY_DSN`), with the visitors' personal data taken out
before an event leaves the process. Sentry is told to collect no user, no request bodies and no
local variables; `scrub` then removes what could still carry a person (cookies, the forwarded
address, headers that name one) and masks email addresses and IP addresses in every string
left, exception messages and breadcrumbs included, since code may well put an address in an
error's text."""

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode

from yesladder import __version__

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Candidates only: each is kept unless ipaddress reads it as an address (a time, 18:36:04, is not).
ADDRESS = re.compile(r"(?<![\w.:])[0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*[.:][0-9A-Fa-f.:]*(?![\w.:])")
# Keys whose values name a person, wherever they appear (query strings, extra data).
PERSONAL_KEYS = {"email", "first_name", "last_name", "full_name", "phone", "ip", "ip_address",
                 "remote_addr", "username", "to", "address", "user"}  # fmt: skip
# In a query string a `name` is a person's too (elsewhere it names a runtime, a browser).
PERSONAL_PARAMETERS = PERSONAL_KEYS | {"name"}
PERSONAL_HEADERS = {"cookie", "authorization", "x-forwarded-for", "x-real-ip", "forwarded",
                    "referer", "user-agent"}  # fmt: skip
SCRUBBED = "[scrubbed]"


def setup(dsn: str, **options) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn, release=f"yesladder@{__version__}", integrations=[DjangoIntegration()],
        data_collection={"user_info": False, "http_bodies": [], "stack_frame_variables": False,
                         "database_query_data": False},
        before_send=scrub, before_breadcrumb=scrub_breadcrumb, **options,
    )  # fmt: skip


def scrub(event: dict, hint=None) -> dict:
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
        request.pop("env", None)  # REMOTE_ADDR
        if request.get("query_string"):
            request["query_string"] = _scrubbed_query(request["query_string"])
        headers = request.get("headers")
        if isinstance(headers, dict):
            for name in [n for n in headers if n.lower() in PERSONAL_HEADERS]:
                headers[name] = SCRUBBED
    return _masked(event)


def scrub_breadcrumb(crumb: dict, hint=None) -> dict:
    return _masked(crumb)


def _scrubbed_query(query) -> str:
    pairs = parse_qsl(query, keep_blank_values=True) if isinstance(query, str) else []
    return urlencode([(k, SCRUBBED if k.lower() in PERSONAL_PARAMETERS else v) for k, v in pairs])


def _address(found: re.Match) -> str:
    try:
        ipaddress.ip_address(found.group(0))
    except ValueError:
        return found.group(0)
    return "[ip]"


def _personal(key, value) -> bool:
    return isinstance(key, str) and key.lower() in PERSONAL_KEYS and isinstance(value, str | int)


def _masked(value):
    if isinstance(value, str):
        return ADDRESS.sub(_address, EMAIL.sub("[email]", value))
    if isinstance(value, dict):
        return {k: SCRUBBED if _personal(k, v) else _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value
