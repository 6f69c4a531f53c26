"""Public import path of :mod:`espresso_static.data.plots`."""

from espresso_static.data.plots import *  # noqa: F403
