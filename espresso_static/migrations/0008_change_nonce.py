# Each log row gets a random number the database draws: a mark (and a table's
# fingerprint) names its last row's, so a log rewound by a restored backup and written
# again past the mark is no longer taken for the log the mark read (ids alone repeat).

from django.db import migrations, models


def drop_sqlite_triggers(apps, schema_editor) -> None:
    """SQLite adds (or removes) the column by remaking the log table, which it refuses
    while the project's triggers name it. They are put back after the migrations
    (:func:`~espresso_static.data.changelog.install_after_migrate`), each table with a
    reset row: what was written meanwhile was not logged."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'es\\_change\\_%' "
            "ESCAPE '\\'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("espresso_static", "0007_buildrecord_summary_cleared"),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, migrations.RunPython.noop),
        migrations.AddField(
            model_name="change",
            name="nonce",
            field=models.FloatField(
                db_default=models.Func(function="random", output_field=models.FloatField()),
                help_text="A random number the database draws for the row: a build's mark and "
                "a table's fingerprint name their last row's, so a log rewound (a backup "
                "restored) and written again as far is told apart from the one they read.",
            ),
        ),
        # Undone in reverse order: the triggers go before the column is removed.
        migrations.RunPython(migrations.RunPython.noop, drop_sqlite_triggers),
    ]
