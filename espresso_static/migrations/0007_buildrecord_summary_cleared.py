# The one-line summaries recorded before this version could name, for an audience that
# sees only some rows of a table, the status a row had while it was hidden from it
# ("17 Does not exist → Exists"). Each build's feed repeats the summaries of the builds
# before it: they are cleared, or the next public build would publish them again.

from django.db import migrations


def clear_summaries(apps, schema_editor) -> None:
    apps.get_model("espresso_static", "BuildRecord").objects.update(summary="")


class Migration(migrations.Migration):
    dependencies = [
        ("espresso_static", "0006_change_pruned_index"),
    ]

    operations = [
        migrations.RunPython(clear_summaries, migrations.RunPython.noop, elidable=True),
    ]
