"""Each booking gets a copy of its session's teacher, school, start and status, kept by triggers
(chalkboard/scheduling/triggers.py): the triggers first, then the copy of every existing booking, in the same
transaction, so that no booking written meanwhile is left without one; the index last, over filled rows."""

from django.db import migrations, models


def copy_sessions(apps, schema_editor):
    from chalkboard.scheduling import triggers

    triggers.install(schema_editor.connection)
    triggers.backfill(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    from chalkboard.scheduling import triggers

    triggers.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('people', '0002_school_teacher_records_and_teaching_assignments'),
        ('scheduling', '0002_covered_foreign_key_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='sessionstudent',
            name='session_school_id',
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='sessionstudent',
            name='session_starts_at',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='sessionstudent',
            name='session_status',
            field=models.CharField(editable=False, max_length=16, null=True),
        ),
        migrations.AddField(
            model_name='sessionstudent',
            name='session_teacher_id',
            field=models.BigIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(copy_sessions, drop_triggers),
        migrations.AddIndex(
            model_name='sessionstudent',
            index=models.Index(fields=['session_teacher_id', 'session_school_id', 'session_starts_at', 'student', 'session_status', 'attendance'], name='booking_teacher_start'),
        ),
    ]
