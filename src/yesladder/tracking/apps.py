from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "yesladder.tracking"
    verbose_name = "Events and journeys"
