"""Public import path of :mod:`espresso_static.declare.progress`."""

from espresso_static.declare.progress import *  # noqa: F403
