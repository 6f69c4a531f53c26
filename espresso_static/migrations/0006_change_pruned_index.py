# Every table fingerprint reads the change log's few pruned rows (kind P): a partial
# index finds them without scanning the table's other rows.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("espresso_static", "0005_change_pruned"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="change",
            index=models.Index(
                condition=models.Q(("kind", "P")), fields=["table"], name="espresso_change_pruned"
            ),
        ),
    ]
