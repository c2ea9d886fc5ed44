import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def vouched_by_creator(apps, schema_editor):
    Endpoint = apps.get_model("webhooks", "Endpoint")
    Endpoint.objects.update(vouched_by=models.F("created_by"))


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="endpoint",
            name="vouched_by",
            field=models.ForeignKey(
                help_text="The owner or admin it sends on the word of: who made it, or last enabled it or changed its "
                "URL. It is disabled when they no longer own or run the school.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(vouched_by_creator, migrations.RunPython.noop),
    ]
