from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    """The optional ClickHouse analytics store (docs/scale.md)."""

    name = "yesladder.warehouse"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder.analytics.store import ENGINES, Engine
        from yesladder.warehouse import shipping
        from yesladder.warehouse.report import adhoc_text, store_or_error

        shipping.wire()
        ENGINES["clickhouse"] = Engine(open=store_or_error, adhoc=adhoc_text)
