from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "yesladder.dashboard"
    verbose_name = "Operator dashboard"

    def ready(self):
        from yesladder import seams
        from yesladder.dashboard import importruns

        # The browser's imports, stored by the worker in chunks (the page shows the bar).
        seams.JOBS.add("imports", seams.Job(importruns.EVERY_SECONDS, importruns.work))
