from django.core.management.base import BaseCommand

from yesladder.offers.services import collect_due


class Command(BaseCommand):
    help = (
        "Charge the scheduled payments that are due (instalments and phases the provider does "
        "not collect itself). Safe to run as often as you like, e.g. every few minutes from cron."
    )

    def handle(self, *args, **options):
        collected = collect_due()
        self.stdout.write(f"{collected.paid} charge(s) paid, {collected.failed} failed")
