from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running an installation: health, metrics, backups, the deploy check (docs/deploy.md)."""

    name = "yesladder.operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        from yesladder import seams
        from yesladder.operations import backup, checks, errors, health, logs

        seams.JOBS.add("heartbeat", seams.Job(health.BEAT_SECONDS, health.beat))
        if settings.BACKUP_EVERY:
            # Looked at every minute; the job itself decides from the newest backup's age.
            seams.JOBS.add("backup", seams.Job(60, backup.scheduled))
        checks.register()
        request_finished.connect(logs.forget, dispatch_uid="yesladder.operations.logs")
        if settings.SENTRY_DSN:
            errors.setup(settings.SENTRY_DSN)
