"""Writing and reading the audit trail. Services record their own changes (publishing a
version, stopping an experiment, tagging a lead), in the transaction of the change, so a
change that rolls back leaves no entry and a change never goes unrecorded."""

import getpass
from dataclasses import dataclass

from yesladder.team.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who made a change: a signed-in user, someone at the terminal, or the system (the demo,
    a migration)."""

    name: str
    user_id: int | None = None

    @classmethod
    def of(cls, user) -> "Actor":
        return cls(user.get_username(), user.pk)

    @classmethod
    def terminal(cls) -> "Actor":
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no login name in a bare container
            who = "unknown"
        return cls(f"terminal ({who})")


SYSTEM = Actor("system")


def record(by: Actor, action: str, target: str, *, before: dict | None = None,
           after: dict | None = None, lead_id: int | None = None) -> AuditEntry:  # fmt: skip
    return AuditEntry.objects.create(
        user_id=by.user_id, actor=by.name[:200], action=action, target=target[:200],
        lead_id=lead_id, before=before or {}, after=after or {},
    )  # fmt: skip


def forget_lead(lead_id: int) -> int:
    """Erasure: the lead's entries keep who did what and when, not what was changed (a tag or
    a status is the person's data)."""
    return AuditEntry.objects.filter(lead_id=lead_id).update(before={}, after={"erased": True})
