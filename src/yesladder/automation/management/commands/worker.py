import signal
import threading

from django.core.management.base import BaseCommand

from yesladder import metrics
from yesladder.automation.worker import Loop


class Command(BaseCommand):
    help = (
        "Send the outbox, run timed automations, deliver CRM webhooks and collect due charges. "
        "Run one or more next to `yesladder serve` (PostgreSQL); several at once are safe."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="work until nothing is due, then exit (cron)"
        )

    def handle(self, *args, once: bool, **options):
        metrics.forget_dead_processes()
        loop = Loop()
        if once:
            self.stdout.write(f"{loop.until_idle()} piece(s) of work done")
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())  # finish the message in hand, then stop
        self.stdout.write(f"yesladder worker {loop.worker_id} running; Ctrl+C stops it")
        loop.forever(stop)
