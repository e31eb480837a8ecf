"""The emails a visitor asks for on a step's page: the double opt-in confirmation, the quiz
result ("email me my result") and the lead magnet's link.

They are transactional, one per request, so they leave after the request's transaction
commits, once its answer is out: a rolled-back opt-in mails nobody, a slow mail server never
holds a database lock, and the visitor never waits for one.
Invites for a booked call or a session seat go the same way (scheduling.invites).
Marketing sequences belong to automation and its outbox, not here.
"""

import datetime as dt
import logging
import os
import threading
from collections import deque
from email.utils import parseaddr
from functools import partial

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.core.signals import request_finished, request_started
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from yesladder.leads.limits import EMAILS_PER_RECIPIENT
from yesladder.leads.models import Lead

logger = logging.getLogger(__name__)

CONFIRM_SALT = "yesladder.confirm"
CONFIRM_MAX_AGE = dt.timedelta(days=7)


def from_address() -> str:
    return parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "noreply@localhost"


def base_url() -> str:
    """Where links in emails sent outside a request point (the worker's follow-ups, a charge's
    email). Without YESLADDER_BASE_URL, the address `yesladder serve` listens on (it says so
    in YESLADDER_SERVED_AT for its children)."""
    return settings.BASE_URL or os.environ.get("YESLADDER_SERVED_AT") or "http://127.0.0.1:8000"


def absolute(request: HttpRequest | None, path: str) -> str:
    if settings.BASE_URL or request is None:
        return f"{base_url()}{path}"
    return request.build_absolute_uri(path)


def send(lead: Lead, subject: str, template: str, context: dict, attachments: tuple = ()) -> bool:
    """Queue one email to the lead for after the commit; False when the address has had its
    share this hour (so a stranger cannot use our forms to flood someone's inbox)."""
    if not EMAILS_PER_RECIPIENT.allows(lead.email):
        logger.warning("email limit reached for lead %s; %r not sent", lead.pk, subject)
        return False
    return send_to(lead.email, subject, template, {**context, "lead": lead}, attachments)


def send_to(to: str, subject: str, template: str, context: dict, attachments: tuple = ()) -> bool:
    """Queue one email for after the commit, to one of the site's own people (a call's host):
    no per-address limit, since visitors cannot choose the address."""
    context = {**context, "subject": subject}
    transaction.on_commit(partial(_after_response, (to, template, context, attachments)))
    return True


# Emails asked for in a request are composed and sent once its answer has gone out (Django's
# request_finished, when the server closes the response): the visitor does not wait for two
# templates and the mail server. Any thread's next finished request sends what is waiting (with
# the group commit, the thread that wrote a request's transaction may not be the one answering
# it). Outside a request (commands, the worker) they go right after the commit, as before.
_waiting: deque = deque()
_answering = threading.local()


def _after_response(mail: tuple) -> None:
    if getattr(_answering, "request", False):
        _waiting.append(mail)
    else:
        _deliver(*mail)


@receiver(request_started)
def _request_started(**kwargs) -> None:
    _answering.request = True


@receiver(request_finished)
def _request_finished(**kwargs) -> None:
    _answering.request = False
    while _waiting:
        try:
            mail = _waiting.popleft()
        except IndexError:  # another thread took the last one
            return
        _deliver(*mail)


def _deliver(to: str, template: str, context: dict, attachments: tuple) -> None:
    try:
        message = EmailMultiAlternatives(
            subject=context["subject"],
            body=render_to_string(f"yesladder/email/{template}.txt", context),
            to=[to],
            headers={"Auto-Submitted": "auto-generated"},
        )
        message.attach_alternative(
            render_to_string(f"yesladder/email/{template}.html", context), "text/html"
        )
        for name, content, mimetype in attachments:
            message.attach(name, content, mimetype)
        message.send()
    except Exception:  # a mail server down must not turn the visitor's page into an error
        logger.exception("could not send %r to %s", context["subject"], to)


def confirm_token(lead: Lead, version_id: int, step_key: str, journey_id: int) -> str:
    # the journey's id, never the visitor's cookie value: emailed links get forwarded and logged
    claim = {"l": lead.pk, "e": lead.email, "v": version_id, "s": step_key, "j": journey_id}
    return signing.dumps(claim, salt=CONFIRM_SALT)


def read_confirm_token(token: str) -> dict | None:
    try:
        return signing.loads(token, salt=CONFIRM_SALT, max_age=CONFIRM_MAX_AGE)
    except signing.BadSignature:
        return None


def send_confirmation(request: HttpRequest, lead: Lead, funnel_name: str, token: str) -> bool:
    link = absolute(request, reverse("steps:confirm", args=[token]))
    context = {"link": link, "funnel_name": funnel_name, "days": CONFIRM_MAX_AGE.days}
    return send(lead, f"Please confirm your email for {funnel_name}", "confirm", context)


def send_result(lead: Lead, quiz_title: str, result: dict) -> bool:
    """`result` is what the result page shows (steps.kinds.questions.result_context)."""
    context = {"quiz_title": quiz_title, **result}
    return send(lead, f"Your result: {result['outcome'].title}", "result", context)


def send_magnet(request: HttpRequest, lead: Lead, asset_name: str, path: str, days: int) -> bool:
    context = {"asset_name": asset_name, "link": absolute(request, path), "days": days}
    return send(lead, f"Here is your {asset_name}", "magnet", context)
