# The change log's pruned rows (espresso_static.data.logprune): a new kind, no new column.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("espresso_static", "0004_buildrecord"),
    ]

    operations = [
        migrations.AlterField(
            model_name="change",
            name="kind",
            field=models.CharField(
                choices=[
                    ("I", "inserted"),
                    ("U", "updated"),
                    ("D", "deleted"),
                    ("R", "reset"),
                    ("P", "pruned"),
                ],
                help_text="What happened; `R`: the log was (re)started, anything may have changed; `P`: rows before were pruned (see espresso_static.data.logprune).",
                max_length=1,
            ),
        ),
    ]
