from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "yesladder.automation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from yesladder import reactions, seams
        from yesladder.automation import (
            bounces,  # noqa: F401 (connects anymail's tracking signal)
            engine,
            hooks,
        )

        # After progress (order 10): a standing is computed from events already counted. In the
        # writer's transaction: enrollments, outbox rows and webhook deliveries commit with the
        # event that caused them, and the worker sends them after the commit.
        reactions.register(reactions.SETTLED, engine.on_events, order=20)
        reactions.register(reactions.STITCHED, engine.on_stitched, order=20)
        reactions.register(reactions.LEAD_CREATED, hooks.on_lead_created, order=20)
        reactions.register(reactions.LEAD_UPDATED, hooks.on_lead_updated, order=20)
        from yesladder.automation.guardrails import REASONS, counter

        for name in REASONS:
            seams.GUARDRAILS.add(name, counter(name))
        from yesladder.automation.email_tests import counts

        seams.EMAIL_COUNTS.fill(counts)
