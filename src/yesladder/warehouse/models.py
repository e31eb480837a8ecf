"""What the shipper remembers in the primary database: how far each stream got, and which
visitors changed identity since (their rows in ClickHouse must follow)."""

from django.db import models


class Checkpoint(models.Model):
    """The last row of one stream (events, identities) known to be in ClickHouse."""

    stream = models.CharField(max_length=16, unique=True)
    position = models.BigIntegerField(default=0, help_text="highest id shipped, in order")
    shipped = models.BigIntegerField(default=0, help_text="rows sent so far (replays included)")
    synced_at = models.DateTimeField(null=True, blank=True, help_text="last successful batch")
    error = models.TextField(blank=True, help_text="why the last attempt failed, if it did")
    store = models.CharField(max_length=80, blank=True,
                             help_text="the store shipped to: its id and generation")  # fmt: skip
    rebuild = models.BooleanField(default=False,
                                  help_text="a `sync --from-scratch` is under way")  # fmt: skip

    def __str__(self) -> str:
        return f"{self.stream} at {self.position}"


class IdentityChange(models.Model):
    """A visitor joined a lead (its person changes): recorded only while a store is set up."""

    visitor_id = models.UUIDField()
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.visitor_id} at {self.at}"


class Erasure(models.Model):
    """People erased in the primary database whose rows ClickHouse may still hold, named only
    by the store's pseudonymous keys: the person keys ("l<lead id>", "v<visitor id>"), the
    devices' ids and the ids of the lead's events made on a device now another lead's. Kept
    until every shard has deleted their rows. Recorded only where a store is or was set up."""

    persons = models.JSONField(default=list)
    visitors = models.JSONField(default=list)
    events = models.JSONField(default=list)
    issued = models.JSONField(default=dict, help_text="shard -> its clock when asked to delete")
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{len(self.persons)} people at {self.at}"
