"""Public import path of :mod:`espresso_static.declare.access`."""

from espresso_static.declare.access import *  # noqa: F403
