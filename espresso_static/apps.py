from django.apps import AppConfig


class EspressoStaticConfig(AppConfig):
    name = "espresso_static"
    label = "espresso_static"
    verbose_name = "espresso-static"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Connect the consistency-check signal handlers and register the checks.
        from espresso_static.checks import (  # noqa: F401
            data_health,
            declarations,
            migrations,
            notifications,
        )
        from espresso_static.models import signals  # noqa: F401
