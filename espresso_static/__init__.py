"""espresso-static: static sites for scientific workflow databases described as Django models."""

__version__ = "0.1.0"


def setup(project=None):
    """Configure Django from the espresso-static project at ``project`` (default: the
    nearest folder at or above the current one with a ``[tool.espresso-static]``
    table), so a script can use the models: ``espresso_static.setup()`` first, then
    import them. Returns the project's configuration.

    Called again once a project is set up, or while it is (by the project's package
    when imported, as EspressoDB projects do), it returns that project as it is; a
    different ``project`` is refused."""
    from espresso_static.project.django_setup import setup_project

    return setup_project(project)


def __getattr__(name: str):
    # Lazy: importing the ingest (and the models it uses) needs Django set up first.
    if name == "ingest":
        from espresso_static.data.ingest import ingest

        globals()["ingest"] = ingest
        return ingest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
