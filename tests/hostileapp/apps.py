from django.apps import AppConfig

from tests.hostileapp.attacks import PAYLOADS


class HostileAppConfig(AppConfig):
    name = "tests.hostileapp"
    label = "hostileapp"
    verbose_name = f"Hostile {PAYLOADS[0]} {PAYLOADS[9]}"
