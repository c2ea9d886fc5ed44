"""A foreign key's own index where a composite index leads with the same column: dropped, one fewer index
for every write of these rows to keep up. The index alone is dropped (Django's AlterField on a foreign key
would also drop and re-add the constraint, validating every row again under lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('activity', '0001_initial'),
        ('people', '0002_school_teacher_records_and_teaching_assignments'),
        ('schools', '0002_school_pay_review_bounds'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='activitylog',
                    name='school',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='activity', to='schools.school'),
                ),
                migrations.AlterField(
                    model_name='activitylog',
                    name='teacher',
                    field=models.ForeignKey(blank=True, db_index=False, help_text='The teacher whose day this concerns, when there is one (feeds the dashboard).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='activity', to='people.teacher'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "activity_activitylog_school_id_6b9dc9ea"',
                    reverse_sql='CREATE INDEX "activity_activitylog_school_id_6b9dc9ea" ON "activity_activitylog" ("school_id")',
                ),
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "activity_activitylog_teacher_id_c664f35d"',
                    reverse_sql='CREATE INDEX "activity_activitylog_teacher_id_c664f35d" ON "activity_activitylog" ("teacher_id")',
                ),
            ],
        ),
    ]
