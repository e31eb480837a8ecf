"""The three roles as groups. Staff who had the dashboard before roles existed could do all of
it (erasure included), so they become owners: nobody loses what they had."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# As team.roles.ROLES was when this migration was written (a migration keeps its own copy).
VIEWER = ("use_dashboard", "view_auditentry")
EDITOR = (*VIEWER, "export_personal", "edit_funnels", "run_experiments", "manage_leads")
OWNER = (*EDITOR, "import_leads", "erase_leads", "manage_team")
ROLES = {"owner": OWNER, "editor": EDITOR, "viewer": VIEWER}


def make_roles(apps, schema_editor):
    # Permissions are made after every migration has run; the groups need them now.
    team = apps.get_app_config("team")
    team.models_module = True
    create_permissions(team, apps=apps, verbosity=0)
    team.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")
    groups = {}
    for role, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(
            Permission.objects.filter(content_type__app_label="team", codename__in=codenames)
        )
        groups[role] = group
    for user in User.objects.filter(is_staff=True, is_superuser=False, groups__isnull=True):
        user.groups.add(groups["owner"])


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("team", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(make_roles, drop_roles)]
