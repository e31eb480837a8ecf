"""Dashboard users with a role, as the tests sign them in."""

from django.contrib.auth.models import User

from yesladder.team import roles

PASSWORD = "pw-staff-1234"


def member(username: str, role: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(roles.group(role))
    return user
