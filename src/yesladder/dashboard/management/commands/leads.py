import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import Progress

from yesladder.dashboard import exports, imports
from yesladder.dashboard.services import LeadSearch
from yesladder.database import migrate_embedded
from yesladder.team.audit import Actor

SHOWN_BAD_ROWS = 50


class Command(BaseCommand):
    help = "The list from the terminal: export it as CSV, or import a CSV with its consent."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        out = sub.add_parser("export", help="the leads as CSV on standard output")
        out.add_argument("--funnel", default="", help="leads who started this funnel")
        out.add_argument("--segment", default="", help="leads in this segment")
        out.add_argument("--tag", default="", help="leads with this tag")
        into = sub.add_parser("import", help="a CSV file of leads (a column named email)")
        into.add_argument("file", type=Path)
        into.add_argument(
            "--consent",
            default="",
            help="the list's consent basis, recorded on "
            "each lead; without it they get no marketing email",
        )
        into.add_argument("--tag", default="", help="a tag for every lead imported")
        into.add_argument(
            "--dry-run",
            action="store_true",
            help="check every row and say what would happen; store nothing",
        )

    def handle(self, *args, action: str, **options):
        migrate_embedded()
        if action == "export":
            search = LeadSearch(
                funnel=options["funnel"], segment=options["segment"], tag=options["tag"]
            )
            for line in exports.lines(search):
                self.stdout.write(line, ending="")
            return
        self._import(options["file"], options["consent"], options["tag"], options["dry_run"])

    def _import(self, path: Path, consent: str, tag: str, dry_run: bool) -> None:
        if len(consent) > imports.MAX_CONSENT or len(tag) > imports.MAX_TAG:
            raise CommandError(
                f"--consent: at most {imports.MAX_CONSENT} characters; --tag: "
                f"at most {imports.MAX_TAG}"
            )
        try:
            sheet = imports.read(path.read_bytes(), path.name)
            plan = imports.plan(sheet, imports.guess(sheet.header))
        except OSError as unreadable:
            raise CommandError(f"{path}: {unreadable.strerror}") from None
        except imports.Refused as refused:
            raise CommandError(f"not imported: {refused}") from None
        for line, reason in plan.bad[:SHOWN_BAD_ROWS]:
            self.stderr.write(f"{path.name}:{line}: {reason}")
        if len(plan.bad) > SHOWN_BAD_ROWS:
            self.stderr.write(f"... and {len(plan.bad) - SHOWN_BAD_ROWS} more refused rows")
        if plan.ignored:
            self.stdout.write(f"columns not imported: {', '.join(plan.ignored)}")
        said = (
            f"{len(plan.good)} rows to import ({plan.new} new, {plan.updated} to update, "
            f"{plan.suppressed} suppressed and staying so), {len(plan.bad)} refused"
        )
        if dry_run:
            self.stdout.write(f"dry run: {said}; nothing stored")
            return
        if not consent:
            self.stdout.write("no --consent: the leads are kept, and get no marketing email")
        with Progress(console=Console(file=sys.stderr), transient=True) as progress:
            task = progress.add_task("Importing", total=len(plan.good))
            done = imports.run(
                plan, consent, tag, Actor.terminal(), lambda n: progress.advance(task, n)
            )
        self.stdout.write(
            f"imported: {done.created} new, {done.updated} updated, "
            f"{done.consents} consents recorded, {done.refused} rows refused"
        )
