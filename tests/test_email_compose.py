"""Follow-up emails: templates filled with hostile values, links tracked, and the email as a real
SMTP server (aiosmtpd) receives it, parsed with Python's email package (threat 12)."""

import re

import pytest

from tests.conftest import funnel_dict, sourced_from
from yesladder.automation import compose
from yesladder.automation.models import Link, Message

BASE = "https://funnels.example.com"
# Long enough that a folding mail library would break the header line.
LONG_BASE = "https://" + "very-long-subdomain-name." * 6 + "example.com/funnels"
WELCOME = (
    '# Welcome\n\nHi {{ first_name | "there" }}, here is [your checklist]({{ step_link }}).\n\n'
    "Read [the guide](https://example.com/guide?a=1&b=2) and [again](https://example.com/guide?a=1&b=2)."
)


def spec_with(**emails):
    data = funnel_dict()
    data["emails"] = emails
    return sourced_from(data).spec


def welcome(fields):
    spec = spec_with(welcome={"subject": 'Hi {{ first_name | "there" }}!', "body": WELCOME})
    return compose.render(spec, "welcome", fields)


def message_from(rendered, marketing=True, **extra) -> Message:
    return Message.objects.create(
        key=f"test:{Message.objects.count()}", to="ada@example.com", template="welcome",
        marketing=marketing, subject=rendered.subject, text=rendered.text, html=rendered.html,
        header_id="<3f2a9c@funnels.example.com>", **extra,
    )  # fmt: skip


# --- filling templates -------------------------------------------------------------------------


def test_placeholders_take_the_lead_s_values_or_their_defaults():
    rendered = welcome({"first_name": "Ada", "step_link": "https://example.com/f/clean/checklist/"})
    assert rendered.subject == "Hi Ada!"
    assert (
        "Hi Ada, here is your checklist (https://example.com/f/clean/checklist/)." in rendered.text
    )
    assert '<a href="https://example.com/f/clean/checklist/"' in rendered.html
    assert "<h2>Welcome</h2>" in rendered.html  # Markdown became HTML

    anonymous = welcome({"first_name": "  "})
    assert anonymous.subject == "Hi there!" and "Hi there, here is" in anonymous.text


def test_an_unknown_placeholder_renders_its_default_or_nothing():
    rendered = compose.render_text(
        '{{ nothing }}Reminder {{ missing | "soon" }}', "See you {{ when }}.", {}
    )
    assert rendered.subject == "Reminder soon"
    assert rendered.text == "See you .\n" and "See you ." in rendered.html


def test_hostile_values_are_escaped_in_html_and_stripped_from_the_subject():
    name = 'Ada</p><script>alert(1)</script><img src=x onerror="alert(2)">'
    rendered = welcome({"first_name": name + "\r\nBcc: victim@example.com\x00"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject
    assert rendered.subject.startswith("Hi Ada</p><script>") and "\x00" not in rendered.subject
    assert "<script" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Bcc: victim@example.com" in rendered.text.splitlines()[2]  # kept on the one line


def test_a_value_never_becomes_markup_or_a_link():
    rendered = welcome({"first_name": "[Claim your prize](https://evil.example) **now**"})
    assert "evil.example" not in re.findall(r'href="([^"]*)"', rendered.html)
    assert "<strong>" not in rendered.html
    assert "[Claim your prize](https://evil.example) **now**" in rendered.html


def test_a_script_url_in_a_link_placeholder_is_dropped():
    rendered = welcome({"step_link": "javascript:alert(document.cookie)"})
    assert "javascript:" not in rendered.html


def test_the_template_s_own_markdown_is_sanitised():
    spec = spec_with(bad={"subject": "x", "body": "Hi<script>alert(1)</script> <b onclick=x>y</b>"})
    assert "<script" not in compose.render(spec, "bad", {}).html
    assert "onclick" not in compose.render(spec, "bad", {}).html


def test_values_are_bounded():
    rendered = welcome({"first_name": "A" * 100_000})
    assert len(rendered.subject) <= compose.MAX_SUBJECT
    assert rendered.text.count("A") <= compose.MAX_VALUE + 1  # the value and "Read [...]"'s none


def test_the_preheader_is_filled_escaped_and_hidden():
    spec = spec_with(
        tip={"subject": "Tip", "body": "Body.", "preheader": "For {{ first_name }}: one tip"}
    )
    rendered = compose.render(spec, "tip", {"first_name": "<b>Ada</b>"})
    assert rendered.html.startswith('<div style="display:none')
    assert "For &lt;b&gt;Ada&lt;/b&gt;: one tip" in rendered.html
    assert "one tip" not in rendered.text


def test_unknown_emails_and_unread_files_say_what_is_wrong():
    spec = spec_with(later={"subject": "Later", "file": "emails/later.md"})
    with pytest.raises(LookupError, match="no email 'nope'"):
        compose.render(spec, "nope", {})
    with pytest.raises(ValueError, match="emails/later.md"):
        compose.render(spec, "later", {})


# --- tracking ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_links_go_through_one_redirect_per_distinct_url_and_an_open_pixel_is_added():
    message = message_from(welcome({"first_name": "Ada", "step_link": f"{BASE}/f/clean/score/"}))
    compose.track(message, BASE + "/")
    links = {link.url: link for link in Link.objects.filter(message=message)}
    assert set(links) == {f"{BASE}/f/clean/score/", "https://example.com/guide?a=1&b=2"}
    message.refresh_from_db()
    score, guide = links[f"{BASE}/f/clean/score/"], links["https://example.com/guide?a=1&b=2"]
    hrefs = re.findall(r'href="([^"]*)"', message.html)
    assert hrefs == [f"{BASE}/e/c/{link.token}/" for link in (score, guide, guide)]
    assert f'<img src="{BASE}/e/o/{message.pixel_token}.gif" width="1" height="1"' in message.html
    assert message.token not in message.html.split("/e/o/")[1]  # the pixel cannot unsubscribe
    assert f"(https://funnels.example.com/e/c/{score.token}/)" in message.text
    assert "example.com/guide" not in message.text
    assert all(len(link.token) >= 22 for link in links.values())  # 128 random bits


@pytest.mark.django_db
def test_tracking_leaves_the_unsubscribe_link_and_urls_typed_as_values_alone():
    rendered = compose.render_text(
        "Hi", f"Hi {{{{ first_name }}}}. [Stop]({BASE}/e/u/abc/) or [read](https://example.com/a).",
        {"first_name": "https://evil.example/phish"},
    )  # fmt: skip
    message = message_from(rendered)
    compose.track(message, BASE)
    assert list(Link.objects.values_list("url", flat=True)) == ["https://example.com/a"]
    message.refresh_from_db()
    assert f'href="{BASE}/e/u/abc/"' in message.html
    assert "https://evil.example/phish" in message.text  # plain text, never a redirect of ours


@pytest.mark.django_db
def test_a_relative_link_becomes_absolute_and_a_base_url_must_be_absolute():
    message = message_from(compose.render_text("Hi", "[Next](/f/clean/score/)", {}))
    with pytest.raises(ValueError, match="YESLADDER_BASE_URL"):
        compose.track(message, "")
    compose.track(message, BASE)
    assert Link.objects.get().url == f"{BASE}/f/clean/score/"


# --- the email as it goes out, through a real SMTP server -------------------------------------


@pytest.mark.django_db
def test_a_marketing_email_carries_both_unsubscribe_headers_on_one_line(smtp, settings):
    settings.DEFAULT_FROM_EMAIL = "Ladder Team <team@funnels.example.com>"
    message = message_from(welcome({"first_name": "Ada", "step_link": f"{LONG_BASE}/f/x/"}))
    compose.track(message, LONG_BASE)
    compose.build(message, LONG_BASE).send()
    (received,) = smtp.wait_for(1)

    raw = dict(received.raw_items())  # the header values as they were on the wire
    unsubscribe = f"{LONG_BASE}/e/u/{message.token}/"
    assert len(unsubscribe) > 100
    assert raw["List-Unsubscribe"] == f"<{unsubscribe}>"  # unfolded: no CRLF inside
    assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Auto-Submitted" not in received
    assert received["Message-ID"] == message.header_id
    assert received["From"] == "Ladder Team <team@funnels.example.com>"
    assert received["To"] == "ada@example.com" and received["Subject"] == "Hi Ada!"

    text = received.get_body(preferencelist=("plain",)).get_content()
    html = received.get_body(preferencelist=("html",)).get_content()
    assert unsubscribe in text and f'href="{unsubscribe}"' in html
    assert "Hi Ada, here is your checklist" in text and "<h2>Welcome</h2>" in html
    assert html.count("/e/o/") == 1


@pytest.mark.django_db
def test_a_transactional_email_has_no_unsubscribe_and_says_it_is_automatic(smtp):
    rendered = compose.render_text("Your call is tomorrow", "See you at **10:00**.", {})
    message = message_from(rendered, marketing=False)
    compose.build(message, BASE).send()
    (received,) = smtp.wait_for(1)
    assert received["Auto-Submitted"] == "auto-generated"
    assert "List-Unsubscribe" not in received and "List-Unsubscribe-Post" not in received
    assert "/e/u/" not in received.get_body(preferencelist=("plain",)).get_content()
    assert "<strong>10:00</strong>" in received.get_body(preferencelist=("html",)).get_content()


@pytest.mark.django_db
def test_a_retry_sends_the_same_message_id(smtp):
    message = message_from(welcome({"first_name": "Ada"}))
    compose.build(message, BASE).send()
    compose.build(message, BASE).send()
    first, second = smtp.wait_for(2)
    assert first["Message-ID"] == second["Message-ID"] == "<3f2a9c@funnels.example.com>"
