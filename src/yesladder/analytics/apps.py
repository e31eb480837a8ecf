from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "yesladder.analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder.analytics import rollups  # noqa: F401  (its signal receiver)
