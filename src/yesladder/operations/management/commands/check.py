"""`yesladder check [--deploy] [--format json]`: Django's system checks and yesladder's own
(operations.checks), as text (Django's) or as JSON for a script; exit 1 on any error."""

import json
import sys

from django.core import checks
from django.core.management.commands import check


class Command(check.Command):
    help = check.Command.help + " With --deploy, also yesladder's production checks."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *app_labels, **options):
        if options["format"] == "text":
            return super().handle(*app_labels, **options)
        found = checks.run_checks(
            tags=options["tags"] or None, include_deployment_checks=options["deploy"],
            databases=options["databases"],
        )  # fmt: skip
        found = [m for m in found if not m.is_silenced()]
        rows = [{"id": m.id, "level": _level(m), "message": m.msg, "hint": m.hint,
                 "object": str(m.obj) if m.obj is not None else None} for m in found]  # fmt: skip
        self.stdout.write(json.dumps(rows, indent=2))
        if any(m.level >= checks.ERROR for m in found):
            sys.exit(1)


def _level(message: checks.CheckMessage) -> str:
    return {checks.DEBUG: "debug", checks.INFO: "info", checks.WARNING: "warning",
            checks.ERROR: "error", checks.CRITICAL: "critical"}[message.level]  # fmt: skip
