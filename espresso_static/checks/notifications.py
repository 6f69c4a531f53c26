"""Stored notifications naming an audience the configuration does not have
(``espresso_static.W501``), or whose audiences are not a list of names
(``espresso_static.E502``: ``build-site`` stops on them, so ``check`` does too).

A warning, not an error: a notification is data, sent by sync scripts that should not
fail over it (``notify`` prints the same warning when it writes one), and may name an
audience renamed or removed since. Audiences match exactly, so it reaches no build of
an unknown name: nothing leaks, but its readers may miss it.
"""

from __future__ import annotations

from django.core import checks

from espresso_static.checks.data_health import skipped_for_drift
from espresso_static.checks.ids import NOTIFICATIONS, PREFIX
from espresso_static.declare.access import notification_audiences as audience_names
from espresso_static.exceptions import ConfigError
from espresso_static.project.django_setup import project_audiences


@checks.register(NOTIFICATIONS)
def notification_audiences(app_configs=None, databases=None, **_) -> list[checks.CheckMessage]:
    from espresso_static.models import Notification

    if not databases:
        return []
    skipped = skipped_for_drift(app_configs, databases)
    if skipped:
        return skipped
    configured = project_audiences()
    problems = []
    for pk, title, audiences in Notification.objects.values_list("pk", "title", "audiences"):
        try:
            named = audience_names(pk, audiences)
        except ConfigError as error:
            problems.append(
                checks.Error(
                    str(error),
                    hint='Store a list, e.g. ["public"] (`espresso-static notify --audience '
                    "public` writes one).",
                    obj=f"Notification {pk}",
                    id=f"{PREFIX}E502",
                )
            )
            continue
        unknown = [name for name in named if name not in configured]
        if unknown:
            problems.append(
                checks.Warning(
                    f"Notification {pk} ({title!r}) names the audience(s) "
                    f"{', '.join(map(repr, unknown))}, which are not configured "
                    f"(audiences: {', '.join(configured)}): no build of that name shows it.",
                    hint="Add the audience to [tool.espresso-static.audiences] or correct "
                    "the notification (e.g. in `espresso-static admin`).",
                    obj=f"Notification {pk}",
                    id=f"{PREFIX}W501",
                )
            )
    return problems
