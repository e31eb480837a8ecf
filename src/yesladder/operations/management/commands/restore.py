from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.operations.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Restore a backup into an empty database and data directory, after checking every "
        "member against its manifest; refuses to overwrite data."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a yesladder-*.tar written by `backup`")

    def handle(self, *args, file: Path, **options):
        try:
            report = restore(file)
        except BackupError as exc:
            raise CommandError(f"restore refused: {exc}") from None
        self.stdout.write(report.text("Restored"))
        self.stdout.write("Next: `yesladder migrate` (a backup of an older release needs it), "
                          "then start the services.")  # fmt: skip
