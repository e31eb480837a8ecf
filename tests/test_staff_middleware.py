"""Sessions, sign-in and flash messages run for staff pages only (`steps.middleware`): a
visitor's page has none of them and never sets or touches a session cookie, while the dashboard
and the admin still sign people in, keep their session and show their messages. CSRF still
guards the visitor's forms."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client

from tests.conftest import sourced_from
from yesladder.funnels.services import load_funnel
from yesladder.steps.middleware import (
    VISITOR_PATHS,
    StaffAuthenticationMiddleware,
    StaffMessageMiddleware,
    StaffSessionMiddleware,
)
from yesladder.team import roles

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
STAFF_ONLY = ("session", "user", "_messages")


def through_the_three(request):
    """The request as a view behind the three middlewares (in settings' order) sees it."""
    seen = []

    def view(inner):
        seen.append(inner)
        return HttpResponse("ok")

    StaffSessionMiddleware(StaffAuthenticationMiddleware(StaffMessageMiddleware(view)))(request)
    return seen[0]


@pytest.mark.parametrize("prefix", VISITOR_PATHS)
def test_a_visitors_page_has_no_session_user_or_messages(rf, prefix):
    request = through_the_three(rf.get(f"{prefix}some-funnel/"))
    assert [name for name in STAFF_ONLY if hasattr(request, name)] == []


@pytest.mark.parametrize("path", ["/dashboard/", "/admin/", "/admin/login/", "/", "/fx/"])
def test_every_other_page_keeps_them(rf, path):
    request = through_the_three(rf.get(path))
    assert all(hasattr(request, name) for name in STAFF_ONLY)


@pytest.fixture
def staff(db):
    user = get_user_model().objects.create_user("ann", password="a long pass phrase")
    user.is_staff = True
    user.save()
    user.groups.add(roles.group("owner"))
    return user


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


@pytest.mark.django_db
def test_staff_sign_in_keep_a_session_and_see_messages_while_funnel_pages_leave_it_alone(
    clean, staff
):
    load_funnel(sourced_from(clean))
    browser = Client(enforce_csrf_checks=True, **BROWSER)
    assert browser.get("/dashboard/").status_code == 302  # sign-in runs: not signed in yet

    login = browser.get("/admin/login/")
    signed_in = browser.post("/admin/login/?next=/dashboard/", {
        "username": "ann", "password": "a long pass phrase",
        "csrfmiddlewaretoken": csrf_of(login.content.decode()),
    })  # fmt: skip
    assert signed_in.status_code == 302 and "sessionid" in signed_in.cookies
    session = browser.cookies["sessionid"].value
    dashboard = browser.get("/dashboard/funnels/")
    assert dashboard.status_code == 200 and dashboard.wsgi_request.user == staff

    page = browser.get("/f/clean/")  # the same browser on a funnel page: a visitor there
    assert page.status_code == 200 and "yl_vid" in page.cookies
    assert "sessionid" not in page.cookies  # never set, renewed or cleared
    assert not hasattr(page.wsgi_request, "user") and not hasattr(page.wsgi_request, "session")
    assert browser.post("/f/clean/guide/").status_code == 403  # CSRF still guards the forms
    moved = browser.post("/f/clean/guide/", {"csrfmiddlewaretoken": csrf_of(page.content.decode())})
    assert moved.status_code == 302

    assert browser.cookies["sessionid"].value == session  # still signed in, same session
    outbox = browser.get("/dashboard/outbox/")
    token = {"csrfmiddlewaretoken": csrf_of(outbox.content.decode())}
    again = browser.post("/dashboard/outbox/999999/send-again/", token, follow=True)
    assert "Message 999999 is not a dead letter" in again.content.decode()  # messages run
