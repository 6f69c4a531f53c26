"""The models layer: :class:`Base` (EspressoDB's drop-in) and espresso-static's own
tables. ``from espresso_static.models import Base`` is the public import."""

from espresso_static.models.base import Base
from espresso_static.models.hierarchy import most_specialized
from espresso_static.models.tables import BuildRecord, Change, Notification, ProgressSnapshot

__all__ = ["Base", "BuildRecord", "Change", "Notification", "ProgressSnapshot", "most_specialized"]
