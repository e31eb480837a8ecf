from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "yesladder.dashboard"
    verbose_name = "Operator dashboard"
