import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.automation.bounces import record_dsn


class Command(BaseCommand):
    help = (
        "Read bounce reports (RFC 3464 delivery-status notifications, .eml files; - reads one "
        "from standard input) and suppress what they call for: a hard bounce at once, soft "
        "bounces at the second within 30 days. A report read twice counts once."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **options):
        problems = [p for p in map(self._read, options["files"]) if p]
        if problems:
            raise CommandError("; ".join(problems))

    def _read(self, name: str) -> str:
        """Keep and print one file's bounces; what was wrong with it, or ""."""
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            return f"cannot read {name}: {exc.strerror}"
        kept = record_dsn(raw)
        for recipient, kind, reason in kept:
            outcome = f"suppressed ({reason})" if reason else "kept, not suppressed"
            self.stdout.write(f"{name}: {recipient}: {kind} bounce, {outcome}")
        return "" if kept else f"{name}: no failed or delayed recipient in a delivery report"
