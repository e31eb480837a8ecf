from django.apps import AppConfig


class StepsConfig(AppConfig):
    name = "yesladder.steps"
    verbose_name = "Funnel pages"
