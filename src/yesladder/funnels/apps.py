from django.apps import AppConfig


class FunnelsConfig(AppConfig):
    name = "yesladder.funnels"
    verbose_name = "Funnels"
