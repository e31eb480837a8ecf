from django.apps import AppConfig


class WarehouseConfig(AppConfig):
    """The optional ClickHouse analytics store (docs/scale.md)."""

    name = "yesladder.warehouse"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder.warehouse import shipping

        shipping.wire()
