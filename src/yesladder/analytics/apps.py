from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "yesladder.analytics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder import reactions
        from yesladder.analytics import progress, rollups  # noqa: F401  (rollups: its receiver)

        # First of all reactors: a report never sees an event without its progress.
        reactions.register(reactions.RECORDED, progress.on_events, order=10)
        reactions.register(reactions.STITCHED, progress.on_stitched, order=10)
        reactions.register(reactions.REWRITTEN, progress.recount_visitor, order=10)
