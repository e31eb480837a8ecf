from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from yesladder.database import migrate_embedded
from yesladder.tracking import sites
from yesladder.tracking.models import Site, WriteKey


class Command(BaseCommand):
    help = "Create, list and revoke the write keys sites send events with (the tracking API)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="a new key for a site (made on first use)")
        create.add_argument("site")
        create.add_argument("--origin", action="append", default=[],
                            help="a browser origin allowed to send (repeatable), "
                            "like https://blog.example.com")  # fmt: skip
        actions.add_parser("list", help="every site, its origins and keys")
        revoke = actions.add_parser("revoke", help="stop a key working")
        revoke.add_argument("key")
        origins = actions.add_parser("origins", help="change the browser origins of a site")
        origins.add_argument("site")
        origins.add_argument("--add", action="append", default=[])
        origins.add_argument("--remove", action="append", default=[])

    def handle(self, *args, action: str, **options):
        migrate_embedded()
        console = Console(file=self.stdout, highlight=False, soft_wrap=True)
        try:
            getattr(self, f"_{action}")(console, **options)
        except sites.InvalidOrigin as exc:
            raise CommandError(str(exc)) from None

    def _create(self, console, site: str, origin: list[str], **options):
        key = sites.create_key(site, origin)
        console.print(f"Write key for {key.site.name}: {key.key}", markup=False)
        console.print("Paste this into the site's pages:", markup=False)
        console.print("  " + sites.snippet_tag(key), markup=False)
        if not key.site.origins:
            console.print("No browser origin allowed yet: only server-side libraries can send. "
                          f"Add one: yesladder writekey origins {site} --add https://…",
                          markup=False)  # fmt: skip

    def _list(self, console, **options):
        table = Table(title="Sites and write keys", title_justify="left")
        for column in ("site", "origins", "key", "created", "revoked"):
            table.add_column(column)
        for key in WriteKey.objects.select_related("site").order_by("site__name", "created_at"):
            revoked = key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else ""
            table.add_row(key.site.name, ", ".join(key.site.origins) or "(servers only)",
                          key.key, key.created_at.strftime("%Y-%m-%d %H:%M"), revoked)  # fmt: skip
        console.print(table if table.row_count else "No write keys yet: "
                      "yesladder writekey create SITE --origin https://…")  # fmt: skip

    def _revoke(self, console, key: str, **options):
        found = sites.revoke_key(key)
        if found is None:
            raise CommandError("No such write key; `yesladder writekey list` shows them.")
        console.print(f"Revoked the key of {found.site.name}.", markup=False)

    def _origins(self, console, site: str, add: list[str], remove: list[str], **options):
        found = Site.objects.filter(name=site).first()
        if found is None:
            raise CommandError(f"No site called {site!r}; `yesladder writekey list` shows them.")
        sites.add_origins(found, add)
        if remove:
            sites.remove_origins(found, remove)
        console.print(f"{found.name} accepts browsers from: {', '.join(found.origins) or '-'}",
                      markup=False)  # fmt: skip
