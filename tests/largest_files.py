"""A project's own site feature: a page of the largest data files (the README's example)."""

from dataclasses import dataclass

from espresso_static.website.context import Page
from espresso_static.website.feature import Feature
from espresso_static.website.sanitize import code_html, inline_text


@dataclass(frozen=True)
class Largest:
    files: list[tuple[str, int]]  # (file name, size in bytes), largest first


class LargestFiles(Feature[Largest]):
    name = "largest files"

    def on_collect(self, build):
        from models.demo.models import DataFile

        view = build.view  # what this build's audience may see
        if not (view.sees_field(DataFile, "file_name") and view.sees_field(DataFile, "size")):
            return None
        with build.part() as line:  # timed in the collect step's report
            rows = view.queryset(DataFile).filter(size__isnull=False).order_by("-size", "pk")
            files = list(rows.values_list("file_name", "size")[:10])
            line.append(f"largest files {len(files)}")
        return Largest(files)

    def on_files(self, site, context, data):
        if data is None:
            return []
        lines = ["# Largest files", "", "| File | Size (bytes) |", "| --- | ---: |"]
        for name, size in data.files:  # database text: escaped, never raw
            lines.append(f"| {code_html(name)} | {inline_text(f'{size:,}')} |")
        return [Page("largest-files.md", "\n".join(lines) + "\n", "Largest files")]
