import django.db.models.deletion
from django.db import migrations, models

# The index Django made for the foreign key (the same name on SQLite and PostgreSQL). Dropped
# by name: on SQLite, AlterField would copy the whole event table to drop one index.
VISITOR_INDEX = "tracking_event_visitor_id_d29b21e2"
# PostgreSQL's second index on the unique message id serves LIKE 'prefix%', which no query asks.
LIKE_INDEX = "tracking_event_message_id_24098001_like"


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE_INDEX}"')


def make_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX "{LIKE_INDEX}" ON "tracking_event" ("message_id" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0005_lead_tags"),
        ("tracking", "0003_sites_and_write_keys"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="event",
                    name="visitor",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="leads.visitor",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{VISITOR_INDEX}"',
                    f'CREATE INDEX "{VISITOR_INDEX}" ON "tracking_event" ("visitor_id")',
                ),
                migrations.RunPython(drop_like_index, make_like_index),
            ],
        ),
    ]
