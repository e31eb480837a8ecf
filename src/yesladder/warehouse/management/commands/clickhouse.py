from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from yesladder import options
from yesladder.database import migrate_embedded
from yesladder.tracking.models import Event
from yesladder.warehouse import identity, services
from yesladder.warehouse.client import WarehouseError, check
from yesladder.warehouse.models import Checkpoint
from yesladder.warehouse.services import TURN_SECONDS
from yesladder.warehouse.shipping import EVENTS, Shipper
from yesladder.warehouse.turn import Busy


class Command(BaseCommand):
    help = "The ClickHouse analytics store: init (tables on every shard), sync, status."
    requires_system_checks = []  # the store's own checks are what it runs (seconds sooner)

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["init", "sync", "status"])
        parser.add_argument(
            "--from-scratch", action="store_true",
            help="sync: drop what was shipped and ship everything again",
        )  # fmt: skip
        parser.add_argument("--settle", type=options.number(0, 30), default=None, metavar="SECONDS",
                            help="sync: ship rows younger than this again next time "
                            "(default 30)")  # fmt: skip

    def handle(self, *args, **options):
        found = settings.CLICKHOUSE
        if found is None:
            raise CommandError("no ClickHouse store configured: set YESLADDER_CLICKHOUSE_URL "
                               "(and YESLADDER_CLICKHOUSE_CLUSTER for a cluster); see "
                               "docs/scale.md")  # fmt: skip
        migrate_embedded()  # as every command on the embedded default: its tables are made
        try:
            getattr(self, options["action"])(found, options)
        except (WarehouseError, Busy) as exc:
            raise CommandError(str(exc)) from None

    def init(self, found, options) -> None:
        for where in services.init(found):
            self.stdout.write(f"tables ready on {where}/{found.database}")

    def sync(self, found, options) -> None:
        if options["from_scratch"]:
            services.from_scratch(found, wait=TURN_SECONDS)
        mark = Checkpoint.objects.filter(stream=EVENTS).first()
        total = Event.objects.filter(id__gt=mark.position if mark else 0, is_bot=False).count()
        settle = options["settle"]
        shipper = Shipper(found) if settle is None else Shipper(found, settle=settle)
        console = Console(file=self.stdout)
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("shipping", total=total or None)
            done = shipper.sync(lambda n: bar.advance(task, n), wait=TURN_SECONDS)
        for note in done.notes:
            self.stdout.write(note)
        erased = f", {done.erasures:,} erasures carried out" if done.erasures else ""
        self.stdout.write(f"shipped {done.events:,} events and {done.identities:,} identity "
                          f"changes to {found.where()}{erased}")  # fmt: skip
        self.status(found, options)

    def status(self, found, options) -> None:
        """What the primary database knows (how far shipping got, the last error) and what
        every shard says now: never "caught up" about a store that was not reached."""
        rebuilding = identity.pending()  # its tables may be gone: the next sync makes them
        servers, problems = check(found, tables=not rebuilding)
        other = "" if problems else identity.mismatch(servers)
        now = services.status()
        where = f"{found.where()}" + (f" (cluster {found.cluster})" if found.cluster else "")
        self.stdout.write(f"store: {where}")
        self.stdout.write(f"events shipped up to id {now.events_shipped_to:,}; waiting: "
                          f"{now.events_waiting:,}; identity changes waiting: "
                          f"{now.identities_waiting:,}; erasures waiting: "
                          f"{now.erasures_waiting:,}")  # fmt: skip
        behind = now.behind_seconds
        if other:
            self.stdout.write(f"not caught up: {other}")
        elif not now.caught_up:
            self.stdout.write(f"behind by {behind:,.0f} s (the oldest row not shipped)")
        elif problems:
            self.stdout.write("nothing waiting to be shipped, but the store did not answer "
                              "as configured (below)")  # fmt: skip
        else:
            self.stdout.write("caught up")
        if now.synced_at:
            self.stdout.write(f"last shipped: {now.synced_at:%Y-%m-%d %H:%M:%S} UTC")
        if now.error:
            self.stdout.write(f"last error: {now.error}")
        if problems:
            raise CommandError("\n".join(problems))
