from django.apps import AppConfig


class DataAppConfig(AppConfig):
    """An app labelled like the Data page's folder."""

    name = "tests.dataapp"
    label = "data"
