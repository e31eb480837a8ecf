from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    """The optional ClickHouse analytics store (docs/scale.md)."""

    name = "yesladder.warehouse"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder import reactions, seams
        from yesladder.analytics.store import Engine
        from yesladder.warehouse import shipping
        from yesladder.warehouse.report import adhoc_text, store_or_error

        # After progress, experiments and automation: the change is only a row to ship later.
        reactions.register(reactions.STITCHED, shipping.on_stitched, order=30)
        reactions.register(reactions.REWRITTEN, shipping.on_rewritten, order=30)
        reactions.register(reactions.ERASED, shipping.on_erased, order=30)
        # Apart: in a thread of its own in `yesladder worker`, so a server that does not answer
        # holds up neither the outbox nor the timed automations (only the next shipping).
        seams.JOBS.add("clickhouse", seams.Job(shipping.every, shipping.ship_round, apart=True))
        seams.ENGINES.add("clickhouse", Engine(open=store_or_error, adhoc=adhoc_text))
