from django.db import models


class Heartbeat(models.Model):
    """The last time a worker went round its loop: one row per kind of beat ("worker"), whichever
    worker wrote it last. Read by /readyz, /metrics and `check --deploy`."""

    name = models.CharField(max_length=32, primary_key=True)
    at = models.DateTimeField()
    by = models.CharField(max_length=64, help_text="host:pid of the worker that beat last")

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S} by {self.by}"
