# The per-address limits moved from tracking to leads (their keys are visitors' addresses and
# leads' emails). The table stays as it is: only Django's idea of which app owns it changes.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0005_lead_tags"),
        ("tracking", "0004_event_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RateCount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("key", models.CharField(max_length=300)),
                        (
                            "window",
                            models.BigIntegerField(
                                help_text="window start, in whole windows since the epoch"
                            ),
                        ),
                        ("count", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "tracking_ratecount",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("key", "window"), name="one_count_per_window"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
