"""A foreign key's own index where a composite index leads with the same column: dropped, one fewer index
for every write of these rows to keep up. The index alone is dropped (Django's AlterField on a foreign key
would also drop and re-add the constraint, validating every row again under lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('realtime', '0002_websocket_ticket'),
        ('schools', '0002_school_pay_review_bounds'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='event',
                    name='school',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='schools.school'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "realtime_event_school_id_01f0fde5"',
                    reverse_sql='CREATE INDEX "realtime_event_school_id_01f0fde5" ON "realtime_event" ("school_id")',
                ),
            ],
        ),
    ]
