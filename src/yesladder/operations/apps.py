from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running an installation: health, metrics, backups, the deploy check (docs/deploy.md)."""

    name = "yesladder.operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder.automation import worker
        from yesladder.operations import health

        worker.register("heartbeat", health.BEAT_SECONDS, health.beat)
