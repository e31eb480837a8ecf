from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "yesladder.leads"
    verbose_name = "Visitors and leads"
