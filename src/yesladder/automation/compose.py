"""Follow-up emails from the funnel spec's templates: filled, tracked, and built as they go out.

The values that fill a template's `{{ placeholders }}` are hostile: a visitor typed them. They
are inserted only after the Markdown has become HTML (so a name can never become a link or a
tag), escaped there, and kept to one bounded line everywhere (so a subject never grows a header).
"""

import html
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import nh3
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe

from yesladder.automation.models import Link, Message
from yesladder.funnels.markdown import render_markdown
from yesladder.funnels.spec.automations import PLACEHOLDER
from yesladder.funnels.spec.schema import FunnelSpec

MAX_VALUE = 500  # characters of one filled-in value
MAX_SUBJECT = 250
MAX_URL = Link._meta.get_field("url").max_length


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str  # the plain-text part
    html: str  # the HTML part's content: Markdown sanitised, values escaped


def render(
    spec: FunnelSpec, email_key: str, fields: Mapping[str, object], variant: str = ""
) -> Rendered:
    """The spec's email `email_key` (as `variant` of it changes it, for an email under test)
    filled from `fields` (the lead's profile and the caller's extras). A placeholder without a
    value renders its default, or nothing."""
    email = spec.emails.get(email_key)
    if email is None:
        raise LookupError(f"the funnel '{spec.funnel}' has no email '{email_key}'")
    email = email.variant(variant) if variant else email
    if email.body is None:
        raise ValueError(
            f"email '{email_key}' names a file ({email.file}) that was not read into the "
            "funnel version when it was loaded; give its Markdown as `body`"
        )
    return render_text(email.subject, email.body, fields, email.preheader or "")


def render_text(
    subject: str, body_markdown: str, fields: Mapping[str, object], preheader: str = ""
) -> Rendered:
    """The same for a message that is not in a spec (team notifications, reminders)."""
    values = {key: clean_value(value) for key, value in fields.items()}
    filled_subject = " ".join(_fill(subject, values).split())[:MAX_SUBJECT]
    return Rendered(
        subject=filled_subject,
        text=_fill(_plain_links(body_markdown), values).strip() + "\n",
        html=_preheader_html(preheader, values) + _body_html(body_markdown, values),
    )


def clean_value(value: object) -> str:
    """One line of printable text, bounded: control characters (CR, LF, NUL...) become spaces."""
    if value is None:
        return ""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(value))
    return " ".join(text.split())[:MAX_VALUE]


def _fill(template: str, values: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: _value(m, values), template)


def _value(placeholder: re.Match, values: Mapping[str, str]) -> str:
    """The lead's value, else the placeholder's default, else nothing."""
    return values.get(placeholder[1]) or placeholder[2] or ""


MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\(((?:\{\{[^}\n]*\}\}|[^)\s])+)\)")


def _plain_links(markdown_text: str) -> str:
    """`[label](url)` reads as `label (url)` in the plain-text part."""
    return MARKDOWN_LINK.sub(r"\1 (\2)", markdown_text)


def _body_html(body_markdown: str, values: Mapping[str, str]) -> str:
    """Markdown to sanitised HTML with stand-ins for the placeholders, then the escaped values in
    their place. The second clean drops what a value could still do inside an attribute (a
    `javascript:` URL in an href)."""
    stand_ins: dict[str, str] = {}

    def stand_in(match: re.Match) -> str:
        token = f"YLPH{len(stand_ins)}HPLY"  # letters and digits: Markdown leaves them alone
        stand_ins[token] = html.escape(_value(match, values))
        return token

    rendered = str(render_markdown(PLACEHOLDER.sub(stand_in, body_markdown)))
    for token, value in stand_ins.items():
        rendered = rendered.replace(token, value)
    return nh3.clean(rendered)


def _preheader_html(preheader: str, values: Mapping[str, str]) -> str:
    """The preview line inboxes show after the subject; hidden in the message itself."""
    if not preheader:
        return ""
    text = html.escape(" ".join(_fill(preheader, values).split()))
    return f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">{text}</div>\n'


# --- tracking ----------------------------------------------------------------------------------

HREF = re.compile(r'href="((?:https?://|/(?!/))[^"]*)"')


def track(message: Message, base_url: str) -> None:
    """Send each link in the HTML through a click redirect (one Link per distinct URL, the same
    URLs rewritten in the plain text) and add an open pixel; saves the message.

    Only hrefs count as links: a URL a visitor typed as their name is text, never tracked, so the
    redirect can only ever lead where the template's author pointed it."""
    base = _absolute_base(base_url)
    urls = _linked_urls(message.html, base)
    with transaction.atomic():
        links = Link.objects.bulk_create([Link(message=message, url=url) for url in urls])
        redirect = {
            link.url: base + reverse("automation:click", args=[link.token]) for link in links
        }
        message.html = HREF.sub(lambda m: _href(m, base, redirect), message.html)
        message.html += _pixel(message, base)
        message.text = _in_text(message.text, redirect)
        message.save(update_fields=["html", "text"])


def _absolute_base(base_url: str) -> str:
    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(
            f"links in emails need an absolute base URL, not {base_url!r}: "
            "set YESLADDER_BASE_URL (e.g. https://funnels.example.com)"
        )
    return base


def _linked_urls(message_html: str, base: str) -> list[str]:
    urls = (_target(m[1], base) for m in HREF.finditer(message_html))
    return list(dict.fromkeys(u for u in urls if u and len(u) <= MAX_URL))


def _target(href: str, base: str) -> str | None:
    """Where an href leads, absolute; None for our own links (unsubscribe, redirects, pixel)."""
    url = html.unescape(href)
    url = base + url if url.startswith("/") else url
    return None if url.startswith(f"{base}/e/") else url


def _href(match: re.Match, base: str, redirect: dict[str, str]) -> str:
    target = _target(match[1], base)
    return f'href="{redirect[target]}"' if target in redirect else match[0]


def _in_text(text: str, redirect: dict[str, str]) -> str:
    if not redirect:
        return text
    # Longest first, and never inside a longer URL: https://a.example is not https://a.example.evil
    alternatives = "|".join(re.escape(url) for url in sorted(redirect, key=len, reverse=True))
    pattern = re.compile(rf"(?:{alternatives})(?![\w/~%#?=&+-]|\.\w)")
    return pattern.sub(lambda m: redirect[m[0]], text)


def _pixel(message: Message, base: str) -> str:
    src = base + reverse("automation:open", args=[message.pixel_token])
    return f'\n<img src="{src}" width="1" height="1" alt="" style="display:block;border:0">'


# --- the email as it goes out ------------------------------------------------------------------


def build(message: Message, base_url: str) -> EmailMultiAlternatives:
    """The email for the mail server. The same Message-ID on every retry lets mailbox providers
    show one message if a retry follows a send the worker did not live to mark."""
    base = _absolute_base(base_url)
    unsubscribe = (
        base + reverse("automation:unsubscribe", args=[message.token]) if message.marketing else ""
    )
    context = {"message": message, "unsubscribe": unsubscribe}
    email = _OutgoingEmail(
        subject=message.subject,
        body=render_to_string("yesladder/automation/email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to],
        headers=_headers(message, unsubscribe),
    )
    # The content was sanitised and its values escaped by `render`; the layout adds no input.
    context["body"] = mark_safe(message.html)  # noqa: S308
    email.attach_alternative(
        render_to_string("yesladder/automation/email.html", context), "text/html"
    )
    return email


ONE_LINE_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


class _OneLine:
    """A header value the generator writes as it is. Django's messages use the compat32 policy,
    which folds every str value longer than a line (78 characters); a folded List-Unsubscribe
    fails DKIM at some receivers (threat 12). Non-str values are taken as already encoded."""

    def __init__(self, value: str):
        self.value = value

    def __str__(self) -> str:
        return self.value

    def encode(self, linesep: str = "\n", maxlinelen: int | None = None) -> str:
        return self.value


class _OutgoingEmail(EmailMultiAlternatives):
    def message(self):
        mime = super().message()
        for name in ONE_LINE_HEADERS:
            if name in mime:
                mime.replace_header(name, _OneLine(str(mime[name])))
        return mime


def _headers(message: Message, unsubscribe: str) -> dict[str, str]:
    headers = {"Message-ID": message.header_id} if message.header_id else {}
    if not message.marketing:
        return {**headers, "Auto-Submitted": "auto-generated"}
    # RFC 8058 one-click, each header on one line (_OutgoingEmail). No mailto: nothing here reads
    # a mailbox, and an unsubscribe request that nobody honours is worse than none.
    return {
        **headers,
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
