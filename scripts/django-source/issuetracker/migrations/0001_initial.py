from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]
    operations = [
        migrations.CreateModel(
            name="Issue",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("title", models.CharField(max_length=50)),
                ("description", models.CharField(max_length=200)),
                ("status", models.CharField(choices=[("open", "open"), ("closed", "closed")], default="open", max_length=10)),
                ("assigned_to", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="assigned", to=settings.AUTH_USER_MODEL, to_field="username")),
                ("created_by", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="created", to=settings.AUTH_USER_MODEL, to_field="username")),
            ],
        ),
    ]
