from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "yesladder.automation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from yesladder.automation import bounces  # noqa: F401 (connects anymail's tracking signal)
