from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.database import migrate_embedded
from yesladder.funnels import lint
from yesladder.funnels.services import Stale, load_funnel
from yesladder.funnels.spec import SpecError, read_spec
from yesladder.team.audit import Actor


class Command(BaseCommand):
    help = "Validate funnel spec files and store each as a new version when it changed."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--strict", action="store_true", help="refuse a funnel that has lint errors"
        )
        older = parser.add_mutually_exclusive_group()
        older.add_argument(
            "--force", action="store_true",
            help="store a file even over a newer version published in the dashboard",
        )  # fmt: skip
        older.add_argument(
            "--keep-dashboard", action="store_true",
            help="skip (exit 0) a file older than a version published in the dashboard",
        )  # fmt: skip

    def handle(self, *args, files: list[Path], strict: bool, force: bool, keep_dashboard: bool,
               **options):  # fmt: skip
        migrate_embedded()
        failed = []
        by = Actor.terminal()
        for path in files:
            try:
                sourced = read_spec(path)
                lint.check_settings(sourced)
                errors = [f for f in lint.lint(sourced) if f.severity == lint.ERROR]
                if errors and strict:
                    raise CommandError(
                        f"{path}: {len(errors)} lint error(s); run "
                        f"`yesladder lint {path}` (not loaded: --strict)"
                    )
                loaded = load_funnel(sourced, by=by, force=force)
            except Stale as older:
                if keep_dashboard:
                    self.stdout.write(f"{sourced.spec.funnel}: kept version {older.newer.number} "
                                      f"from the dashboard; {path} not loaded")  # fmt: skip
                    continue
                self.stderr.write(str(older))
                failed.append(str(path))
                continue
            except (SpecError, CommandError) as exc:
                self.stderr.write(str(exc))
                failed.append(str(path))
                continue
            state = (
                f"stored as version {loaded.version}"
                if loaded.created
                else f"unchanged (version {loaded.version})"
            )
            note = f"; {len(errors)} lint error(s), see `yesladder lint {path}`" if errors else ""
            self.stdout.write(f"{loaded.funnel}: {state}, {loaded.steps} steps{note}")
        if failed:
            raise CommandError(f"not loaded: {', '.join(failed)}", returncode=2)
