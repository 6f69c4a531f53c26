"""A project: its configuration, Django set-up, scaffolding and description."""
