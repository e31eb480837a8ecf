import os
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from yesladder import metrics, options
from yesladder.database import migrate_embedded
from yesladder.funnels.models import Funnel


class Command(BaseCommand):
    help = "Serve the funnel pages and the admin with a production server (granian, WSGI)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=options.PORT, default=8000)
        parser.add_argument(
            "--workers", type=options.whole(1, 2), default=1, help="processes (default 1)"
        )
        parser.add_argument(
            "--threads", type=options.whole(1, 2), default=2, help="threads per process"
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not send follow-ups from this process (run `yesladder worker` instead)",
        )

    def handle(self, *args, host: str, port: int, workers: int, threads: int, **options):
        migrate_embedded()
        metrics.forget_dead_processes()
        first = Funnel.objects.first()
        where = f"http://{host}:{port}/f/{first.key}/" if first else f"http://{host}:{port}/admin/"
        database = "SQLite in " + str(settings.HOME) if settings.EMBEDDED else "PostgreSQL"
        self.stdout.write(f"yesladder is serving on {where} ({database}); Ctrl+C stops it")
        # The embedded default needs no second command for its follow-ups. A process of its
        # own, not a thread: the server forks its workers, and a fork taken while a thread
        # holds a lock leaves that lock held forever in the child.
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        os.environ.setdefault("YESLADDER_SERVED_AT", f"http://{shown}:{port}")
        worker = None
        if settings.EMBEDDED and not options["no_worker"]:
            worker = subprocess.Popen([sys.executable, "-m", "yesladder.cli", "worker"])  # noqa: S603
        connections.close_all()  # kept open (CONN_MAX_AGE), it must not be shared by forks
        try:
            self._serve(host, port, workers, threads)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(timeout=30)

    def _serve(self, host: str, port: int, workers: int, threads: int) -> None:
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            "yesladder.wsgi:application",
            address=host,
            port=port,
            interface=Interfaces.WSGI,
            workers=workers,
            blocking_threads=threads,
            log_level="warning",
        ).serve()
