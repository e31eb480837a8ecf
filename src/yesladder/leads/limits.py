"""Per-address limits on what strangers can make the system do (opt-ins, answers, emails).

Counts live in the database so every worker process and every host shares them; a fixed window
is coarse at its edges (up to twice the limit across a boundary) but costs one upsert.
"""

import datetime as dt
import functools
import ipaddress
import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from yesladder.leads.models import RateCount

logger = logging.getLogger(__name__)
TABLE = RateCount._meta.db_table
# Both SQLite (3.35+) and PostgreSQL speak this; the values are parameters, never text.
UPSERT = (
    f'INSERT INTO "{TABLE}" ("key", "window", "count") VALUES (%s, %s, 1) '  # noqa: S608
    f'ON CONFLICT ("key", "window") DO UPDATE SET "count" = "{TABLE}"."count" + 1 '
    'RETURNING "count"'
)


@dataclass(frozen=True)
class Limit:
    action: str
    setting: str  # the name of the setting that holds the allowance per window
    per: dt.timedelta

    def allows(self, who: str) -> bool:
        """Count one more try by `who`; False once the window's allowance is used up."""
        if not settings.RATE_LIMITS:
            return True
        key, window = f"{self.action}:{who}"[:300], self._window()
        with connection.cursor() as cursor:  # one upsert: counted and read in one statement
            cursor.execute(UPSERT, [key, window])
            (used,) = cursor.fetchone()
        return used <= getattr(settings, self.setting)

    def _window(self) -> int:
        return int(timezone.now().timestamp() // self.per.total_seconds())


HOUR = dt.timedelta(hours=1)
OPTINS_PER_ADDRESS = Limit("optin", "LIMIT_OPTINS_PER_HOUR", HOUR)
ANSWERS_PER_ADDRESS = Limit("answer", "LIMIT_ANSWERS_PER_HOUR", HOUR)
EMAILS_PER_RECIPIENT = Limit("email", "LIMIT_EMAILS_PER_HOUR", HOUR)
REFERRALS_PER_ADDRESS = Limit("referral", "LIMIT_REFERRALS_PER_HOUR", HOUR)
TOKEN_MISSES_PER_ADDRESS = Limit("token-miss", "LIMIT_TOKEN_MISSES_PER_HOUR", HOUR)


def guesses_limited(view):
    """For views behind a secret token in their URL (unsubscribe, click, download):
    an address that has tried too many tokens that lead nowhere this window gets 429 for each
    further miss instead of the page that says so (threat 13). A right token always works, so
    no one sharing the address (a NAT, a mail provider's one-click POSTs) is locked out of
    unsubscribing by someone else's guesses; only unknown tokens count."""

    @functools.wraps(view)
    def limited(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            if _one_guess_too_many(request):
                return _too_many_guesses()
            raise
        if response.status_code == 404 and _one_guess_too_many(request):
            return _too_many_guesses()
        return response

    return limited


def _one_guess_too_many(request: HttpRequest) -> bool:
    return not TOKEN_MISSES_PER_ADDRESS.allows(client_address(request))


def _too_many_guesses() -> HttpResponse:
    limit = TOKEN_MISSES_PER_ADDRESS
    left = limit.per.total_seconds() - timezone.now().timestamp() % limit.per.total_seconds()
    response = HttpResponse(
        "Too many links that lead nowhere came from your address; try again later.",
        status=429,
        content_type="text/plain; charset=utf-8",
    )
    response["Retry-After"] = str(max(1, int(left)))
    return response


def client_address(request: HttpRequest) -> str:
    """The visitor's IP: behind N trusted proxies, the Nth address from the right of
    X-Forwarded-For (the leftmost ones are whatever the client chose to send). Always a valid
    address or "": the value is stored in inet columns and must never break a request."""
    proxies = settings.TRUSTED_PROXIES
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [a.strip() for a in header.split(",") if a.strip()]
    if proxies and len(forwarded) >= proxies:
        return _valid_ip(forwarded[-proxies]) or _valid_ip(request.META.get("REMOTE_ADDR", ""))
    if forwarded and not proxies:
        _warn_untrusted_proxies()
    return _valid_ip(request.META.get("REMOTE_ADDR", ""))


@cache
def _warn_untrusted_proxies() -> None:
    """Once per process: behind a proxy, every visitor would share the proxy's address."""
    logger.warning(
        "X-Forwarded-For is ignored: set YESLADDER_TRUSTED_PROXIES to the number of proxies "
        "in front of yesladder, or every visitor shares one address in the per-address limits"
    )


def _valid_ip(text: str) -> str:
    text = text.strip()
    if text.count(":") == 1:  # "1.2.3.4:5678": an IPv4 address with a port
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        return ""
