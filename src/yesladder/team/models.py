"""Who may do what (the roles are Django groups holding the permissions below) and what was
done: the audit trail of every change made in the dashboard or by the commands that change
funnels, experiments and leads."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEntry(models.Model):
    """One change: who, when, what, and the state before and after it.

    Leads are named by id only (`lead_id`, no foreign key): an entry outlives the lead, and
    erasure leaves the entry without the person's data (team.audit.forget_lead)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # The name at the time: a user renamed or deleted later is still named as they were.
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=40, db_index=True)
    target = models.CharField(max_length=200)
    lead_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        default_permissions = ("view",)
        # What the roles are made of (team.roles.ROLES; the groups by migration 0002).
        permissions = [
            ("use_dashboard", "Read the dashboard"),
            ("export_personal", "Export personal data (lead lists, one lead's records)"),
            ("edit_funnels", "Edit, publish and roll back funnels"),
            ("run_experiments", "Stop and ship experiments"),
            ("manage_leads", "Tag, unsubscribe, suppress leads; resend; start or stop runs"),
            ("import_leads", "Import lead lists"),
            ("erase_leads", "Erase a lead on request"),
            ("manage_team", "Give and take roles"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.target}"
