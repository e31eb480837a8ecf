from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "yesladder.scheduling"
    verbose_name = "Events and bookings"

    def ready(self) -> None:
        from yesladder import seams
        from yesladder.scheduling import host_calendars

        # Hosts' own calendars are read here, never by a visitor's page view; apart: a slow
        # calendar server must not hold up the worker's mail.
        job = seams.Job(host_calendars.EVERY_SECONDS, host_calendars.refresh_due, apart=True)
        seams.JOBS.add("host-calendars", job)
