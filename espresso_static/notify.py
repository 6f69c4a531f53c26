"""Public import path of :mod:`espresso_static.data.notify`."""

from espresso_static.data.notify import *  # noqa: F403
