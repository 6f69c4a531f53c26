from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "models.demo"
    label = "demo"
    verbose_name = "LQCD demo"
