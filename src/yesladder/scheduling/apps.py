from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "yesladder.scheduling"
    verbose_name = "Events and bookings"
