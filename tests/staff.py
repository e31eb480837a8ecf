"""Dashboard users with a role, as the tests sign them in (and the browser tests' sign-in
and screenshots)."""

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from yesladder.team import roles

PASSWORD = "pw-staff-1234"


def member(username: str, role: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(roles.group(role))
    return user


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where a browser test's screenshots go: $YESLADDER_SCREENSHOTS when set (to look at
    them), else the test's own temporary folder."""
    folder = Path(os.environ.get("YESLADDER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page, base: str, username: str, landing: str) -> None:
    """Through the admin's login page, as a person does, on to `landing`."""
    page.goto(f"{base}/admin/login/?next={landing}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{landing}")
