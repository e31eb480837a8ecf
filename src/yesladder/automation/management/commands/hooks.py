from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Q
from rich.console import Console
from rich.table import Table

from yesladder import options
from yesladder.automation import egress, hooks
from yesladder.automation.models import Hook, HookDelivery
from yesladder.database import migrate_embedded

State = HookDelivery.State


class Command(BaseCommand):
    help = "Add, list and remove CRM webhooks, and see their deliveries (docs/crm-webhooks.md)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="POST these topics to URL, signed (prints the secret)")
        add.add_argument("url")
        add.add_argument("--topic", action="append", required=True,
                         help=f"repeatable: {', '.join(hooks.TOPICS)}, an automation's webhook "
                         "name, or '*' for all")  # fmt: skip
        add.add_argument("--allow-private", action="store_true",
                         help="let this hook reach loopback and private networks "
                         "(a CRM on your own network)")  # fmt: skip
        actions.add_parser("list", help="every hook and how its deliveries went")
        remove = actions.add_parser("remove", help="delete a hook and its deliveries")
        remove.add_argument("id", type=options.whole(1, 3))
        deliveries = actions.add_parser("deliveries", help="the latest deliveries")
        deliveries.add_argument("--dead", action="store_true", help="only the dead letters")
        deliveries.add_argument("--limit", type=options.whole(1, 50), default=50)

    def handle(self, *args, action: str, **options):
        migrate_embedded()
        console = Console(file=self.stdout, highlight=False, soft_wrap=True)
        getattr(self, f"_{action}")(console, **options)

    def _add(self, console, url: str, topic: list[str], allow_private: bool, **options):
        url = url.strip()
        bad = [t for t in topic if not hooks.TOPIC_NAME.fullmatch(t)]
        if bad:
            raise CommandError(
                f"not a topic name: {', '.join(map(repr, bad))}; use lower-case letters, "
                "digits and . _ : - (like lead.created), or '*'"
            )
        _check(url, allow_private or settings.HOOKS_ALLOW_PRIVATE)
        topics = ["*"] if "*" in topic else sorted(set(topic))
        hook = Hook.objects.create(url=url, topics=topics, allow_private=allow_private)
        console.print(f"Hook {hook.pk}: {', '.join(hook.topics)} to {hook.url}", markup=False)
        console.print(f"Signing secret (shown once, keep it with the receiver): {hook.secret}",
                      markup=False)  # fmt: skip

    def _list(self, console, **options):
        counted = Hook.objects.annotate(
            queued=Count(
                "deliveries", filter=Q(deliveries__state__in=[State.QUEUED, State.SENDING])
            ),
            sent=Count("deliveries", filter=Q(deliveries__state=State.SENT)),
            dead=Count("deliveries", filter=Q(deliveries__state=State.DEAD)),
        ).order_by("pk")
        table = Table(title="CRM webhooks", title_justify="left")
        for column in ("id", "url", "topics", "private ok", "active", "queued", "sent", "dead"):
            table.add_column(column, overflow="fold")
        for hook in counted:
            table.add_row(str(hook.pk), hook.url, ", ".join(hook.topics),
                          "yes" if hook.allow_private else "", "yes" if hook.active else "no",
                          str(hook.queued), str(hook.sent), str(hook.dead))  # fmt: skip
        console.print(table if table.row_count else "No webhooks yet: "
                      "yesladder hooks add https://… --topic lead.created")  # fmt: skip

    def _remove(self, console, id: int, **options):
        hook = Hook.objects.filter(pk=id).first()
        if hook is None:
            raise CommandError(f"No hook {id}; `yesladder hooks list` shows them.")
        _, removed = hook.delete()
        dropped = removed.get(HookDelivery._meta.label, 0)
        console.print(f"Removed hook {id} ({hook.url}) and {dropped} delivery(ies).", markup=False)

    def _deliveries(self, console, dead: bool, limit: int, **options):
        rows = HookDelivery.objects.select_related("hook").order_by("-created_at", "-pk")
        if dead:
            rows = rows.filter(state=State.DEAD)
        table = Table(title="Dead webhook deliveries" if dead else "Webhook deliveries",
                      title_justify="left")  # fmt: skip
        for column in ("id", "topic", "state", "tries", "status", "due"):
            table.add_column(column, no_wrap=True)
        table.add_column("url", overflow="fold", min_width=16)
        table.add_column("error", overflow="fold", min_width=16)
        for row in rows[:limit]:
            table.add_row(str(row.pk), row.topic, row.state, str(row.attempts),
                          str(row.last_status or ""), _due(row), row.hook.url,
                          row.last_error)  # fmt: skip
        console.print(table if table.row_count else "No deliveries.")


def _check(url: str, allow_private: bool) -> None:
    """Refuse what could not be delivered now. Delivery checks the address again each time:
    what a name resolves to can change after it was saved."""
    try:
        target = egress.parse_url(url)
    except egress.Refused as exc:
        raise CommandError(exc.reason) from None
    try:
        egress.resolve(target, allow_private=allow_private)
    except egress.Refused as exc:
        raise CommandError(
            f"{exc.reason}. For a CRM on your own network: --allow-private"
        ) from None
    except egress.DeliveryFailed as exc:
        raise CommandError(f"{exc.reason}; check the host name") from None


def _due(row: HookDelivery) -> str:
    waiting = row.state in (State.QUEUED, State.SENDING)
    return f"{row.due_at:%Y-%m-%d %H:%M}" if waiting else ""
