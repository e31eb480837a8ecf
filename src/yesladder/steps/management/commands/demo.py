import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from yesladder.database import migrate_embedded
from yesladder.examples import example_files
from yesladder.funnels.models import Funnel
from yesladder.localserver import local_server
from yesladder.tracking.models import Journey

DEMO_USER = "demo"


class Command(BaseCommand):
    help = (
        "Everything in one command: load the example funnels, send a few thousand synthetic "
        "visitors through them, create a staff user and serve."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--visitors", type=int, default=2000, help="synthetic visitors over all funnels"
        )
        parser.add_argument("--days", type=float, default=30.0, help="spread over past days")
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the data, print the sign-in, stop"
        )

    def handle(self, *args, host, port, visitors, days, no_serve, **options):
        migrate_embedded()
        call_command("load", *map(str, example_files()), stdout=self.stdout)
        funnels = list(Funnel.objects.order_by("key"))
        if visitors > 0 and not Journey.objects.exists():
            self._simulate(funnels, visitors, days, served_at=f"http://{host}:{port}")
        password = self._staff_user()
        base = f"http://{host}:{port}"
        self.stdout.write("\nThe demo is ready.")
        for funnel in funnels:
            self.stdout.write(f"  {funnel.name}: {base}/f/{funnel.key}/")
        self.stdout.write(f"  Dashboard: {base}/dashboard/  user {DEMO_USER}, password {password}")
        self.stdout.write(f"  Admin: {base}/admin/")
        self.stdout.write(
            f"  Emails (confirmations and follow-ups) are written to {settings.EMAIL_FILE_PATH}"
        )
        if not no_serve:
            # Offers take payments through the built-in test provider: no card, no real money.
            os.environ.setdefault("YESLADDER_PAYMENTS", "test")
            self.stdout.write(f"  Payments: {os.environ['YESLADDER_PAYMENTS']} provider")
            call_command("serve", host=host, port=port, stdout=self.stdout)

    def _simulate(self, funnels: list[Funnel], visitors: int, days: float, served_at: str):
        """A short-lived server for the synthetic crowd, trusting the addresses it sends, so
        the per-address limits see many visitors rather than one. Follow-ups its worker sends
        link to where the demo will be served, not to this server."""
        # The crowd buys through the built-in test provider, as the served demo sells.
        paying = os.environ.get("YESLADDER_PAYMENTS") or "test"
        trusting = {"YESLADDER_TRUSTED_PROXIES": "1", "YESLADDER_LOG_LEVEL": "ERROR",
                    "YESLADDER_SERVED_AT": served_at, "YESLADDER_PAYMENTS": paying}  # fmt: skip
        try:
            with local_server(trusting, workers=2) as base:
                for n, funnel in enumerate(funnels):
                    share = visitors // len(funnels) + (1 if n < visitors % len(funnels) else 0)
                    call_command(
                        "simulate", funnel.key, visitors=share, url=base, days=days, seed=n,
                        stdout=self.stdout,
                    )  # fmt: skip
        except RuntimeError as exc:
            raise CommandError(f"demo: {exc}") from None

    def _staff_user(self) -> str:
        """The demo's staff account, with a fresh password printed each run."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USER)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password
