"""A foreign key's own index where a composite index leads with the same column: dropped, one fewer index
for every write of these rows to keep up. The index alone is dropped (Django's AlterField on a foreign key
would also drop and re-add the constraint, validating every row again under lock)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('people', '0002_school_teacher_records_and_teaching_assignments'),
        ('scheduling', '0001_initial'),
        ('schools', '0002_school_pay_review_bounds'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='session',
                    name='school',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='sessions', to='schools.school'),
                ),
                migrations.AlterField(
                    model_name='session',
                    name='teacher',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='sessions', to='people.teacher'),
                ),
                migrations.AlterField(
                    model_name='sessionnote',
                    name='session',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='notes', to='scheduling.session'),
                ),
                migrations.AlterField(
                    model_name='sessionstudent',
                    name='session',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attendees', to='scheduling.session'),
                ),
                migrations.AlterField(
                    model_name='sessionstudent',
                    name='student',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='attendances', to='people.student'),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "scheduling_session_school_id_35f0ab16"',
                    reverse_sql='CREATE INDEX "scheduling_session_school_id_35f0ab16" ON "scheduling_session" ("school_id")',
                ),
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "scheduling_session_teacher_id_5dfea3ca"',
                    reverse_sql='CREATE INDEX "scheduling_session_teacher_id_5dfea3ca" ON "scheduling_session" ("teacher_id")',
                ),
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "scheduling_sessionnote_session_id_3f40cdc0"',
                    reverse_sql='CREATE INDEX "scheduling_sessionnote_session_id_3f40cdc0" ON "scheduling_sessionnote" ("session_id")',
                ),
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "scheduling_sessionstudent_session_id_77100f9a"',
                    reverse_sql='CREATE INDEX "scheduling_sessionstudent_session_id_77100f9a" ON "scheduling_sessionstudent" ("session_id")',
                ),
                migrations.RunSQL(
                    sql='DROP INDEX IF EXISTS "scheduling_sessionstudent_student_id_fce35401"',
                    reverse_sql='CREATE INDEX "scheduling_sessionstudent_student_id_fce35401" ON "scheduling_sessionstudent" ("student_id")',
                ),
            ],
        ),
    ]
