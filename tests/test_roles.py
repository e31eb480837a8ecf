"""Roles on Django's groups and permissions, and the audit trail: a viewer reads and changes
nothing (a POST to an editor's URL is refused with 403 before the view runs), owners give roles,
every change is written down with who, when, before and after, and an erased lead's entries
stay without its data."""

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from tests.staff import member
from yesladder.automation.models import Message
from yesladder.dashboard import privacy
from yesladder.leads.models import Lead
from yesladder.team import audit, roles
from yesladder.team.audit import Actor
from yesladder.team.models import AuditEntry

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ada():
    return Lead.objects.create(email="ada@example.com", tags=["vip"])


def test_a_viewer_reads_everything_and_changes_nothing(ada):
    viewer = signed_in(member("vera", "viewer"))
    for path in ("/dashboard/funnels/", "/dashboard/leads/", f"/dashboard/leads/{ada.pk}/",
                 "/dashboard/outbox/", "/dashboard/team/", "/dashboard/audit/"):  # fmt: skip
        assert viewer.get(path).status_code == 200, path
    dead = Message.objects.create(key="k", to="ada@example.com", template="t", subject="s",
                                  text="t", html="h", state=Message.State.DEAD)  # fmt: skip
    refused = [
        viewer.post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": ada.email}),
        viewer.get(f"/dashboard/leads/{ada.pk}/export.json"),  # personal data
        viewer.post(f"/dashboard/outbox/{dead.pk}/send-again/"),
        viewer.post(
            f"/dashboard/team/{User.objects.get(username='vera').pk}/role/", {"role": "owner"}
        ),  # fmt: skip
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert "Nothing was changed" in refused[0].content.decode()
    assert Lead.objects.filter(pk=ada.pk).exists()
    dead.refresh_from_db()
    assert dead.state == Message.State.DEAD
    assert roles.role_of(User.objects.get(username="vera")) == "viewer"
    assert not AuditEntry.objects.exists()


def test_staff_without_a_role_see_nothing():
    nobody = signed_in(User.objects.create_user("new", password="pw-new-12345", is_staff=True))
    response = nobody.get("/dashboard/funnels/")
    assert response.status_code == 403
    assert "Your role (none)" in response.content.decode()


def test_an_owner_gives_roles_and_the_trail_says_so():
    owner = member("olga", "owner")
    vera = member("vera", "viewer")
    client = signed_in(owner)
    response = client.post(f"/dashboard/team/{vera.pk}/role/", {"role": "editor"}, follow=True)
    assert "vera is now editor" in response.content.decode()
    assert roles.role_of(User.objects.get(pk=vera.pk)) == "editor"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.user_id, entry.action, entry.target) == (
        "olga",
        owner.pk,
        "role.change",
        "user vera",
    )
    assert (entry.before, entry.after) == ({"role": "viewer"}, {"role": "editor"})
    trail = client.get("/dashboard/audit/").content.decode()
    assert "role.change" in trail and "role: viewer" in trail and "role: editor" in trail
    # Nobody locks themselves out; a nonsense role is refused with the field named.
    refused = client.post(f"/dashboard/team/{owner.pk}/role/", {"role": "viewer"}, follow=True)
    assert "cannot take their own role away" in refused.content.decode()
    refused = client.post(f"/dashboard/team/{vera.pk}/role/", {"role": "god"}, follow=True)
    assert "role: choose one of owner, editor, viewer, none" in refused.content.decode()
    assert AuditEntry.objects.count() == 1


def test_an_editor_cannot_give_roles_or_erase(ada):
    editor = signed_in(member("ed", "editor"))
    vera = member("vera", "viewer")
    assert editor.post(f"/dashboard/team/{vera.pk}/role/", {"role": "owner"}).status_code == 403
    assert editor.post(f"/dashboard/leads/{ada.pk}/erase/",
                       {"confirm": ada.email}).status_code == 403  # fmt: skip
    assert editor.get(f"/dashboard/leads/{ada.pk}/export.json").status_code == 200


def test_erasure_is_in_the_trail_and_the_lead_s_entries_lose_its_data(ada):
    owner = member("olga", "owner")
    audit.record(Actor.of(owner), "lead.tag", f"lead {ada.pk}", lead_id=ada.pk,
                 before={"tags": ["vip"]}, after={"tags": ["vip", "whale"]})  # fmt: skip
    client = signed_in(owner)
    response = client.post(f"/dashboard/leads/{ada.pk}/erase/", {"confirm": ada.email})
    assert response.status_code == 302
    tagged, erased = AuditEntry.objects.order_by("id")
    assert (tagged.action, tagged.before, tagged.after) == ("lead.tag", {}, {"erased": True})
    assert (erased.action, erased.actor, erased.lead_id) == ("lead.erase", "olga", ada.pk)
    assert erased.after["records_deleted"] >= 1
    assert "ada@" not in str(list(AuditEntry.objects.values()))


def test_erasure_from_a_command_or_a_test_is_recorded_as_the_system(ada):
    privacy.erase(ada)
    assert AuditEntry.objects.get().actor == "system"


@pytest.mark.django_db(transaction=True)
def test_the_migration_makes_the_roles_and_keeps_existing_staff_owners():
    executor = MigrationExecutor(connection)
    executor.migrate([("team", "0001_initial")])
    assert not Group.objects.filter(name__in=roles.ROLES).exists()
    old_hand = User.objects.create_user("old", password="pw-old-12345", is_staff=True)
    visitor = User.objects.create_user("member", password="pw-member-1234")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ROLES)
    viewer = Group.objects.get(name="viewer").permissions.values_list("codename", flat=True)
    assert set(viewer) == set(roles.VIEWER)
    owner = Group.objects.get(name="owner").permissions.values_list("codename", flat=True)
    assert set(owner) == set(roles.OWNER)
    assert roles.role_of(User.objects.get(pk=old_hand.pk)) == "owner"
    assert roles.role_of(User.objects.get(pk=visitor.pk)) == "none"


def test_every_changing_form_needs_its_csrf_token(ada):
    """A page that changes something refuses a post without the token (a form on another
    site posting with the signed-in person's cookie)."""
    owner = Client(enforce_csrf_checks=True)
    owner.force_login(member("olga", "owner"))
    for path, data in ((f"/dashboard/leads/{ada.pk}/erase/", {"confirm": ada.email}),
                       (f"/dashboard/leads/{ada.pk}/act/", {"action": "unsubscribe"}),
                       ("/dashboard/leads/tag/", {"tag": "x", "change": "add"}),
                       ("/dashboard/new-funnel/", {"text": "funnel: x", "action": "publish"}),
                       ("/dashboard/new-funnel/check/", {"text": "funnel: x"})):  # fmt: skip
        assert owner.post(path, data).status_code == 403, path
    assert Lead.objects.filter(pk=ada.pk).exists() and not AuditEntry.objects.exists()


def _admin_form(user, groups, **changed) -> dict:
    """The admin's change form for `user` as its page fills it in, with `groups` chosen."""
    return {"username": user.username, "first_name": "", "last_name": "", "email": "",
            "is_active": "on", "is_staff": "on", "groups": [g.pk for g in groups],
            "date_joined_0": "2026-12-01", "date_joined_1": "09:00:00",
            "initial-date_joined_0": "2026-12-01", "initial-date_joined_1": "09:00:00",
            "_save": "Save", **changed}  # fmt: skip


def test_a_role_changed_in_the_admin_is_in_the_trail():
    root = User.objects.create_superuser("root", password="pw-root-12345")
    vera = member("vera", "viewer")
    client = signed_in(root)
    page = f"/admin/auth/user/{vera.pk}/change/"
    assert client.get(page).status_code == 200
    response = client.post(page, _admin_form(vera, [roles.group("editor")]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert roles.role_of(User.objects.get(pk=vera.pk)) == "editor"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.user_id, entry.action, entry.target) == (
        "root", root.pk, "role.change", "user vera"
    )  # fmt: skip
    assert entry.before == {"role": "viewer", "groups": ["viewer"]}
    assert entry.after == {"role": "editor", "groups": ["editor"]}
    # A group of the site's own, and the superuser flag (an owner whatever the groups).
    helpers = Group.objects.create(name="helpers")
    client.post(page, _admin_form(vera, [roles.group("editor"), helpers], is_superuser="on"))
    latest = AuditEntry.objects.first()
    assert (latest.before, latest.after) == (
        {"role": "editor", "groups": ["editor"]},
        {"role": "owner", "groups": ["editor", "helpers"]},
    )
    # Saving with nothing of the role changed writes nothing; nor does a new account.
    client.post(page, _admin_form(vera, [roles.group("editor"), helpers], is_superuser="on",
                                  first_name="Vera"))  # fmt: skip
    assert User.objects.get(pk=vera.pk).first_name == "Vera"
    assert AuditEntry.objects.count() == 2
    made = client.post("/admin/auth/user/add/", {"username": "newbie", "usable_password": "false",
                                                 "_save": "Save"})  # fmt: skip
    assert made.status_code == 302 and User.objects.filter(username="newbie").exists()
    assert AuditEntry.objects.count() == 2
    assert "role.change" in client.get("/dashboard/audit/").content.decode()
