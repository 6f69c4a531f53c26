"""The home page as the campaign's dashboard: the "Progress" section of the status
feature, a bar and the completion estimate (or since when it stalled) per status
page. The other features add their own sections (latest news, open data, data
health), in the order of the features."""

from __future__ import annotations

from espresso_static.declare.progress import CATEGORY_LABELS
from espresso_static.website.context import RenderContext
from espresso_static.website.render import GENERATED, render_template


def progress_section(feature, site, context: RenderContext, data) -> str:
    """``StatusPages.on_home_markdown``: the section for the status pages (``data``:
    the feature's ``StatusCollected``) the site shows."""
    pages = data.pages if data else []
    shown = [page for page in pages if site.model(page.declared.label) is not None]
    if not shown:
        return ""
    items = [
        {
            "name": site.model(page.declared.label).name,
            "page": f"{GENERATED}/{page.folder}/index.md",
            "summary": page.summary,
            # The counts of the rows now, as the bar beside it and the status page show.
            "estimate": page.trends[-1].describe(counts=_done_of(page.summary.overall))
            if page.trends
            else f"{page.summary.overall.percent_done:.0f} % done; "
            + ("no history on this site" if page.snapshots else "no snapshot yet"),
        }
        for page in shown
    ]
    return render_template("status_home.md.j2", items=items, names=CATEGORY_LABELS)


def _done_of(group) -> tuple[int, int]:
    return group.counts.get("done", 0), group.total
