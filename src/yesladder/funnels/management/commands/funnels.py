from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table

from yesladder.database import migrate_embedded
from yesladder.funnels.models import Funnel


class Command(BaseCommand):
    help = "List the stored funnels with their current version."

    def handle(self, *args, **options):
        migrate_embedded()
        table = Table(title="Funnels", title_justify="left")
        for column in ("funnel", "name", "version", "steps", "loaded"):
            table.add_column(column)
        funnels = Funnel.objects.all()
        for funnel in funnels:
            version = funnel.current_version()
            table.add_row(
                funnel.key,
                funnel.name,
                str(version.number),
                str(version.steps.count()),
                version.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
        console = Console(file=self.stdout, highlight=False)
        if funnels:
            console.print(table)
        else:
            console.print("No funnels yet: `yesladder load FILE.yaml` stores one.")
