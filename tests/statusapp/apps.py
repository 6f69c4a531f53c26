from django.apps import AppConfig


class StatusAppConfig(AppConfig):
    """An app labelled and titled like the status pages' folder and section (LatteDB
    has one)."""

    name = "tests.statusapp"
    label = "status"
    verbose_name = "Status"
