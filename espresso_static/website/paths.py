"""Where generated pages live in the site: shared by the renderer and by
``Base.get_doc_url`` (which must not import the renderer)."""

#: Where the generated pages live inside the docs folder (gitignored).
GENERATED = "generated"


def doc_url(site_url: str, app_label: str, model_slug: str | None = None) -> str:
    """The address of an app's page, or of one of its models' pages, on the published
    site (MkDocs' directory URLs), under ``site_url`` or relative to the site's root."""
    page = f"{model_slug}/" if model_slug else ""
    return f"{site_url.rstrip('/')}/{GENERATED}/{app_label}/{page}"
