from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from yesladder.operations import deployment


class Command(BaseCommand):
    help = (
        "Write a production setup's files (docs/deploy.md): `deploy systemd` the units of the "
        "web server and the worker with their environment file; `deploy caddy` the Caddyfile."
    )

    def add_arguments(self, parser):
        kinds = parser.add_subparsers(dest="kind", required=True)
        units = kinds.add_parser("systemd", help="yesladder-web/worker.service, yesladder.env")
        units.add_argument("--to", type=Path, default=Path("/etc/systemd/system"),
                           help="where the units go (default /etc/systemd/system)")  # fmt: skip
        units.add_argument("--env-file", type=Path, default=Path("/etc/yesladder/yesladder.env"),
                           help="the environment file both units read")  # fmt: skip
        units.add_argument("--user", default="yesladder", help="the system user they run as")
        units.add_argument("--home", type=Path, default=Path("/var/lib/yesladder"),
                           help="the data directory (YESLADDER_HOME)")  # fmt: skip
        units.add_argument("--domain", required=True, help="the public host, e.g. go.example.com")
        units.add_argument("--port", type=int, default=8000)
        units.add_argument("--workers", type=int, default=2, help="web processes")
        units.add_argument("--force", action="store_true", help="replace existing files")
        caddy = kinds.add_parser("caddy", help="a Caddyfile for the domain")
        caddy.add_argument("--to", type=Path, default=Path("/etc/caddy"))
        caddy.add_argument("--domain", required=True)
        caddy.add_argument("--upstream", default="127.0.0.1:8000",
                           help="where `yesladder serve` listens")  # fmt: skip
        caddy.add_argument("--force", action="store_true")

    def handle(self, *args, kind: str, **options):
        try:
            if kind == "systemd":
                written = deployment.systemd(
                    options["to"], user=options["user"], home=options["home"],
                    domain=options["domain"], port=options["port"], workers=options["workers"],
                    env_file=options["env_file"], force=options["force"],
                )  # fmt: skip
            else:
                written = [deployment.caddyfile(options["to"], domain=options["domain"],
                                                upstream=options["upstream"],
                                                force=options["force"])]  # fmt: skip
        except (deployment.DeployError, OSError) as exc:
            raise CommandError(str(exc)) from None
        for path in written:
            self.stdout.write(f"wrote {path}")
        if kind == "systemd":
            self.stdout.write(
                f"Next: edit {options['env_file']} (DATABASE_URL, EMAIL_*), then\n"
                "  systemctl daemon-reload && systemctl enable --now yesladder-web "
                "yesladder-worker\n  yesladder check --deploy   # with the same environment"
            )
