import sys

from django.core.management.base import BaseCommand, CommandError

from yesladder.analytics import costs
from yesladder.analytics.models import TrafficCost
from yesladder.funnels.money import shown


class Command(BaseCommand):
    help = (
        "What traffic cost, per source and day: `costs import FILE.csv` (columns source, day, "
        "clicks, cost[, currency, note]; - reads stdin), `costs add SOURCE DAY CLICKS COST`, "
        "`costs list`. A source and day given again replaces the earlier figure."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["import", "add", "list"])
        parser.add_argument("values", nargs="*")
        parser.add_argument("--currency", default="USD", help="when a row names none")

    def handle(self, *args, action, values, currency, **options):
        try:
            if action == "import":
                self._import(values, currency)
            elif action == "add":
                self._add(values, currency)
        except (costs.CostError, OSError) as exc:
            raise CommandError(str(exc)) from None
        if action == "list":
            for row in TrafficCost.objects.all()[:1000]:
                self.stdout.write(f"{row.day}  {row.source:<30} {row.clicks:>8,} clicks  "
                                  f"{shown(row.cost, row.currency)}")  # fmt: skip

    def _import(self, values: list[str], currency: str) -> None:
        if len(values) != 1:
            raise CommandError("give one CSV file (or - for stdin)")
        if values[0] == "-":
            found = costs.read_csv(sys.stdin, currency)
        else:
            with open(values[0], newline="", encoding="utf-8-sig") as handle:
                found = costs.read_csv(handle, currency)
        self.stdout.write(f"{costs.store(found):,} day(s) of costs stored")

    def _add(self, values: list[str], currency: str) -> None:
        if len(values) != 4:
            raise CommandError("give SOURCE DAY CLICKS COST, e.g. partner 2026-11-02 500 120.00")
        row = dict(zip(costs.COLUMNS, values, strict=True))
        costs.store([costs.parse_row(row, 1, currency)])
        self.stdout.write("stored")
