"""Public import path of :mod:`espresso_static.declare.access`."""

from espresso_static.declare.access import *  # noqa: F403
from espresso_static.project.config import configured_audiences  # noqa: F401
