from django.core.management.base import BaseCommand
from rich.progress import Progress as Bar

from yesladder.analytics import progress


class Command(BaseCommand):
    help = (
        "Count every person's progress again from the event log: after an upgrade that adds "
        "analytics to existing data, or to check the kept counts. Safe to run at any time."
    )

    def add_arguments(self, parser):
        parser.add_argument("funnel", nargs="?", help="one funnel's key (default: all)")

    def handle(self, *args, funnel=None, **options):
        with Bar(transient=True) as bar:
            task = bar.add_task("Recounting", total=None)
            counted = progress.recount_all(funnel, lambda done, total: bar.update(
                task, completed=done, total=total))  # fmt: skip
        self.stdout.write(f"{counted:,} event(s) counted")
