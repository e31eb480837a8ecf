"""Steps that take an email (optin) and hand over what was promised (magnet)."""

from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from yesladder.events import EventName
from yesladder.funnels.spec.schema import Magnet, Optin
from yesladder.leads import emails
from yesladder.steps.kinds.base import DOWNLOAD_SALT, Submitted, continue_submit, move_on, step_url
from yesladder.steps.kinds.fields import fields_to_ask, take_fields
from yesladder.tracking.journeys import Page


def optin_context(request: HttpRequest, page: Page) -> dict:
    return {"fields": fields_to_ask(page, page.step.asked_fields())}


def optin_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Optin = page.step
    result = take_fields(request, page, step.asked_fields(), step.consent)
    if result.errors:
        return result
    page.event(EventName.OPTED_IN)
    return move_on(page)


def download_token(page: Page) -> str:
    return signing.dumps(
        {"v": page.version.pk, "s": page.step.key, "j": page.journey.pk},
        salt=DOWNLOAD_SALT,
    )


def magnet_context(request: HttpRequest, page: Page) -> dict:
    step: Magnet = page.step
    gate = fields_to_ask(page, step.asked_fields())
    url = None if gate else reverse("steps:download", args=[download_token(page)])
    return {"fields": gate, "download_url": url, "expires_days": step.asset.expires.days}


def magnet_submit(request: HttpRequest, page: Page) -> Submitted:
    step: Magnet = page.step
    if request.POST.get("action") == "unlock":
        result = take_fields(request, page, fields_to_ask(page, step.asked_fields()))
        if result.errors:
            return result
        if step.email_copy:
            path = reverse("steps:download", args=[download_token(page)])
            lead = page.journey.visitor.lead
            emails.send_magnet(request, lead, step.asset.name, path, step.asset.expires.days)
        return Submitted(redirect=step_url(page, step.key))
    if fields_to_ask(page, page.step.asked_fields()):
        return Submitted(errors={"email": "Please tell us where to send it first."})
    return continue_submit(request, page)
