from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "yesladder.experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder import reactions
        from yesladder.analytics import rollups
        from yesladder.experiments import assignment, rollup
        from yesladder.tracking.journeys import choose_versions_with, name_variants_with

        choose_versions_with(assignment.choose)
        name_variants_with(assignment.variants_of)
        # After progress (10) has moved the visitor's rows to the lead.
        reactions.register(reactions.STITCHED, assignment.on_stitched, order=15)
        rollups.keep_also(rollup.rows_moved, rollup.rows_recounted)
