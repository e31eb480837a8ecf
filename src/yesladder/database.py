"""Database chores the commands share."""

from django.conf import settings
from django.core.management import call_command


def migrate_embedded() -> None:
    """On the embedded default the tables are created or updated without being asked."""
    if settings.EMBEDDED:
        call_command("migrate", interactive=False, verbosity=0)
