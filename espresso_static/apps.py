from django.apps import AppConfig


class EspressoStaticConfig(AppConfig):
    name = "espresso_static"
    label = "espresso_static"
    verbose_name = "espresso-static"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from django.db.models.signals import post_migrate

        # Connect the consistency-check signal handlers and register the checks.
        from espresso_static.checks import (  # noqa: F401
            data_health,
            declarations,
            migrations,
            notifications,
        )
        from espresso_static.data.changelog import install_after_migrate
        from espresso_static.models import signals  # noqa: F401

        # Every migrate (re)installs the change-log triggers of the tables it touched.
        post_migrate.connect(install_after_migrate, dispatch_uid="espresso_static.changelog")
