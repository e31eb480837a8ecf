from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "yesladder.experiments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from yesladder import reactions, seams
        from yesladder.experiments import assignment, rebalance, rollup

        seams.STARTING_VERSION.fill(assignment.assign)
        seams.VARIANT_NAMES.fill(assignment.variants_of)
        seams.JOBS.add("bandit", seams.Job(rebalance.EVERY_SECONDS, rebalance.update))
        # After progress (10) has moved the visitor's rows to the lead.
        reactions.register(reactions.STITCHED, assignment.on_stitched, order=15)
        # Per-variant rollups follow each Progress row, in the writer's transaction.
        reactions.register(reactions.PROGRESS_MOVED, rollup.rows_moved, order=20)
        reactions.register(reactions.PROGRESS_RECOUNTED, rollup.rows_recounted, order=20)
