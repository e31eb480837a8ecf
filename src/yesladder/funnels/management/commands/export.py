from django.core.management.base import BaseCommand, CommandError

from yesladder.database import migrate_embedded
from yesladder.funnels.editing import exported
from yesladder.funnels.models import Funnel


class Command(BaseCommand):
    help = (
        "Write a stored funnel's spec to standard output, as it was loaded or published "
        "(comments kept), with a first line that says which version it is."
    )

    def add_base_argument(self, parser, *args, **kwargs):
        # `--version N` names a funnel version here, as the command line asks, not
        # Django's; `yesladder --version` still says the program's.
        if "--version" not in args:
            super().add_base_argument(parser, *args, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument("funnel")
        parser.add_argument("--version", type=int, help="this version (default: the newest)")

    def handle(self, *args, funnel: str, version: int | None, **options):
        migrate_embedded()
        found = Funnel.objects.filter(key=funnel).first()
        if found is None:
            raise CommandError(f"no funnel {funnel!r}; `yesladder funnels` lists them")
        try:
            text = exported(found, version)
        except LookupError as missing:
            raise CommandError(str(missing)) from None
        self.stdout.write(text, ending="")
