"""Where generated pages live in the site: shared by the renderer and by
``Base.get_doc_url`` (which must not import the renderer)."""

#: Where the generated pages live inside the docs folder (gitignored).
GENERATED = "generated"

# The names the built-in features write at the top of the generated pages, beside the
# apps' folders (MkDocs' directory URLs make the page ``news.md`` the folder ``news/``).
#: Scripts, stylesheets, MathJax and Mermaid.
ASSETS = "assets"
#: Fragments included by hand-written pages (not pages themselves).
PARTIALS = "partials"
STATUS = "status"
NEWS = "news"
FEEDS = "feeds"
CHANGES = "changes"
DATA = "data"
HEALTH = "health"
FEATURE_FOLDERS = frozenset({ASSETS, PARTIALS, STATUS, NEWS, FEEDS, CHANGES, DATA, HEALTH})


def app_folder(app_label: str) -> str:
    """The folder of an app's pages: its label, or ``<label>-app`` for an app labelled
    like a feature's folder (``status``, ``data``...). No app label (a Python
    identifier) holds a hyphen: the app's pages stay apart from the feature's, and
    every other app keeps its address."""
    return f"{app_label}-app" if app_label in FEATURE_FOLDERS else app_label


def model_page_name(model_slug: str) -> str:
    """The name of a model's page in its app's folder: its slug, or ``index-model`` for
    a model named Index (``index`` is the app's own page)."""
    return f"{model_slug}-model" if model_slug == "index" else model_slug


def page_address(path: str) -> str:
    """Where the file ``path`` (from the docs folder's root) is published: the Markdown
    pages ``x.md``, ``x/index.md`` and ``x/README.md`` are all the page ``x/`` (MkDocs'
    directory URLs, the default); any other file is at its path."""
    stem, markdown, after = path.rpartition(".md")
    if not markdown or after:
        return path
    folder, _, name = stem.rpartition("/")
    if name in ("index", "README"):
        return f"{folder}/" if folder else ""
    return f"{stem}/"


def doc_url(site_url: str, app_label: str, model_slug: str | None = None) -> str:
    """The address of an app's page, or of one of its models' pages, on the published
    site (MkDocs' directory URLs), under ``site_url`` or relative to the site's root."""
    page = f"{model_page_name(model_slug)}/" if model_slug else ""
    return f"{site_url.rstrip('/')}/{GENERATED}/{app_folder(app_label)}/{page}"
