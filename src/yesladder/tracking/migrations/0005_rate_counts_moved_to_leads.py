# RateCount now belongs to leads (leads 0006); its table is kept, so nothing happens in the
# database.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0004_event_indexes"),
        ("leads", "0006_rate_counts_moved_here"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="RateCount")],
        ),
    ]
