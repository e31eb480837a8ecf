from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.database import migrate_embedded
from yesladder.funnels import lint
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import SpecError, read_spec


class Command(BaseCommand):
    help = "Validate funnel spec files and store each as a new version when it changed."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument(
            "--strict", action="store_true", help="refuse a funnel that has lint errors"
        )

    def handle(self, *args, files: list[Path], strict: bool, **options):
        migrate_embedded()
        failed = []
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
                loaded = load_funnel(sourced)
            except SpecError as exc:
                self.stderr.write(str(exc))
                failed.append(str(path))
                continue
            except CommandError as exc:
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
