"""A foreign key's own index where a composite index leads with the same column: dropped, one fewer index
for every write of these rows to keep up. The index alone is dropped (Django's AlterField on a foreign key
would also drop and re-add the constraint, validating every row again under lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('earnings', '0003_held_and_rejected_entries_non_negative_payouts'),
        ('people', '0002_school_teacher_records_and_teaching_assignments'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='earningentry',
                    name='teacher',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='earning_entries', to='people.teacher'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "earnings_earningentry_teacher_id_52ac703a"',
                    reverse_sql='CREATE INDEX "earnings_earningentry_teacher_id_52ac703a" ON "earnings_earningentry" ("teacher_id")',
                ),
            ],
        ),
    ]
