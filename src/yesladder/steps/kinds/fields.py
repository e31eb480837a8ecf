"""Asking for personal fields: progressive profiling, the email, the consent record."""

from django.http import HttpRequest

from yesladder.events import EventName
from yesladder.funnels.spec.schema import Optin
from yesladder.leads import emails
from yesladder.leads.limits import OPTINS_PER_ADDRESS, client_address
from yesladder.leads.services import ConsentGiven, InvalidEmail, consent_given, normalise_email
from yesladder.steps.kinds.base import MAX_FIELD_LENGTH, TOO_MANY_OPTINS, Submitted
from yesladder.tracking.identity import identify
from yesladder.tracking.journeys import Page


def fields_to_ask(page: Page, fields) -> list:
    """Progressive profiling: a field the lead already gave is never asked again."""
    lead = page.journey.visitor.lead
    known = lead.known_fields() if lead else set()
    return [f for f in fields if f.key not in known]


def read_fields(request: HttpRequest, fields) -> tuple[dict[str, str], dict[str, str]]:
    values, errors = {}, {}
    for f in fields:
        value = request.POST.get(f.key, "").strip()[:MAX_FIELD_LENGTH]
        values[f.key] = value
        if f.key == "email":
            try:
                values["email"] = normalise_email(value)
            except InvalidEmail as exc:
                errors["email"] = str(exc)
        elif f.required and not value:
            errors[f.key] = f"Please fill in {f.label.lower()}."
        elif f.options and value and value not in f.options:
            errors[f.key] = f"Please choose one of the options for {f.label.lower()}."
    return values, errors


def take_fields(request: HttpRequest, page: Page, fields, consent_text: str = "") -> Submitted:
    """Validate the fields, then keep them (see `keep_fields`)."""
    values, errors = read_fields(request, fields)
    if errors:
        return Submitted(errors=errors, values=values)
    return keep_fields(request, page, values, consent_text)


def keep_fields(
    request: HttpRequest, page: Page, values: dict, consent_text: str = ""
) -> Submitted:
    """Identify the visitor by email, fill the lead's profile, keep the consent record."""
    if values.get("email") and not OPTINS_PER_ADDRESS.allows(client_address(request)):
        return Submitted(errors={"email": TOO_MANY_OPTINS}, values=values, status=429)
    values = dict(values)
    lead = page.journey.visitor.lead
    given = values.pop("email", None)
    consent = _consent(request, page, consent_text) if given else None
    email = given or (lead.email if lead else None)
    if email is None:
        return Submitted(errors={"email": "Please enter your email address."}, values=values)
    lead = identify(page.journey.visitor, email, values, consent)
    page.event(EventName.FIELDS_GIVEN, fields=sorted(values), email=given is not None)
    if consent and consent.double_optin and lead.confirmed_at is None:
        token = emails.confirm_token(lead, page.version.pk, page.step.key, page.journey.pk)
        emails.send_confirmation(request, lead, page.spec.name, token)
    return Submitted()


def _consent(request: HttpRequest, page: Page, text: str) -> ConsentGiven:
    double = page.spec.double_optin
    if isinstance(page.step, Optin) and page.step.double_optin is not None:
        double = page.step.double_optin
    return consent_given(
        text or "Send me what I asked for.", request.build_absolute_uri(),
        client_address(request), request.META.get("HTTP_USER_AGENT", ""),
        double_optin=double, version_id=page.version.pk, step_key=page.step.key,
    )  # fmt: skip
