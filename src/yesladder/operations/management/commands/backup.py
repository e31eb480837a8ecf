from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.operations.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Write a consistent backup (the database, the data directory's files and a manifest) "
        "while the site serves; docs/deploy.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", type=Path, metavar="DIR",
            help="the folder to write it in (default: YESLADDER_BACKUP_DIR, else "
            "$YESLADDER_HOME/backups)",
        )  # fmt: skip

    def handle(self, *args, to: Path | None, **options):
        try:
            report = backup(to)
        except BackupError as exc:
            raise CommandError(f"backup failed: {exc}") from None
        self.stdout.write(report.text("Wrote"))
