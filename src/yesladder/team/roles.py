"""The three roles, each a Django group holding permissions of `team.AuditEntry`'s Meta:
viewer (reads everything, exports nothing personal), editor (edits funnels, runs experiments,
manages leads), owner (also the team's roles, erasure and import). Views ask for a permission,
never for a role by name, so a site can make roles of its own from the same permissions."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from yesladder.team import audit
from yesladder.team.audit import Actor

USE = "team.use_dashboard"
EXPORT_PERSONAL = "team.export_personal"
EDIT_FUNNELS = "team.edit_funnels"
RUN_EXPERIMENTS = "team.run_experiments"
MANAGE_LEADS = "team.manage_leads"
IMPORT_LEADS = "team.import_leads"
ERASE_LEADS = "team.erase_leads"
MANAGE_TEAM = "team.manage_team"

VIEWER = ("use_dashboard", "view_auditentry")
EDITOR = (*VIEWER, "export_personal", "edit_funnels", "run_experiments", "manage_leads")
OWNER = (*EDITOR, "import_leads", "erase_leads", "manage_team")
# Highest first: a user in several groups holds the highest of them.
ROLES = {"owner": OWNER, "editor": EDITOR, "viewer": VIEWER}
NONE = "none"


def role_of(user) -> str:
    """The user's role as the team page shows it: a superuser is an owner whatever its
    groups; a staff user in no role's group sees nothing of the dashboard."""
    if user.is_superuser:
        return "owner"
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), NONE)


def group(role: str) -> Group:
    """The role's group. Migration 0002 makes the three; made here again if they were deleted
    (a flushed test database, an admin's slip), with the role's permissions."""
    found, made = Group.objects.get_or_create(name=role)
    if made:
        found.permissions.set(
            Permission.objects.filter(content_type__app_label="team", codename__in=ROLES[role])
        )
    return found


class RoleRefused(ValueError):
    pass


def set_role(user, role: str, by: Actor) -> bool:
    """Put `user` in `role`'s group alone (or in none); recorded in the audit trail. Returns
    False when nothing changed."""
    if role not in (*ROLES, NONE):
        raise RoleRefused(f"role: choose one of {', '.join((*ROLES, NONE))}")
    if user.is_superuser:
        raise RoleRefused("role: a superuser is an owner whatever its groups (see the admin)")
    if by.user_id == user.pk and role != "owner":
        raise RoleRefused("role: an owner cannot take their own role away (ask another owner)")
    before = role_of(user)
    if before == role:
        return False
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    if role != NONE:
        user.groups.add(group(role))
    if role != NONE and not user.is_staff:  # the dashboard signs in through the admin's page
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    audit.record(by, "role.change", f"user {user.get_username()}", before={"role": before},
                 after={"role": role_of(user)})  # fmt: skip
    return True


def standing(user) -> dict:
    """A user's role and groups, as the trail records them (no user yet: none)."""
    if user is None:
        return {"role": NONE, "groups": []}
    return {"role": role_of(user), "groups": sorted(g.name for g in user.groups.all())}


def record_change(user, before: dict, by: Actor) -> bool:
    """A change made elsewhere (the admin's Users page) recorded as the Team page records
    its own: `before` is `standing(user)` before the change. False when nothing changed."""
    after = standing(user)
    if after == before:
        return False
    audit.record(by, "role.change", f"user {user.get_username()}", before=before, after=after)
    return True


def members():
    """Everyone who can sign in to the dashboard, or holds a role, with their role."""
    users = get_user_model().objects.filter(Q(is_staff=True) | Q(groups__name__in=ROLES))
    users = users.distinct().order_by("username").prefetch_related("groups")
    return [(user, role_of(user)) for user in users]
