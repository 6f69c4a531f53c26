"""Notification levels, numbered as Python's logging does, least severe first: the one
list the model's choices, the notify API and command, and the News page and its filter
script read."""

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
LEVEL_NAMES = {number: name for name, number in LEVELS.items()}
