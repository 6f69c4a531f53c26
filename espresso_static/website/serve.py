"""``espresso-static serve``: a built site on 127.0.0.1, as a web server hands it out.

A site opened from disk (``file://``) loses what needs HTTP: browsers refuse the
status pages' ``fetch()`` of their data and the search index. This serves the
published folder read-only, with the content types a reader's web server would send
(``mkdocs serve`` does the same for the sources, this does it for the result).

``.gz`` files (the status pages' data chunks and the downloads) are sent as the
bytes they are, ``application/gzip`` without ``Content-Encoding``: a download stays
the file it says it is, and the status page unpacks its chunks itself.
"""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from espresso_static.exceptions import EspressoStaticError

HOST = "127.0.0.1"
#: Content types by extension, before the platform's guesses (which vary by machine).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".pdf": "application/pdf",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".py": "text/plain; charset=utf-8",
    ".gz": "application/gzip",
    ".csv": "text/csv; charset=utf-8",
    ".parquet": "application/vnd.apache.parquet",
    ".sqlite": "application/vnd.sqlite3",
}


class SiteRequestHandler(SimpleHTTPRequestHandler):
    """Static files of one folder; its ``404.html`` for what is not there."""

    extensions_map = CONTENT_TYPES
    quiet = False

    def end_headers(self) -> None:
        # A rebuilt site shows at the next reload, not after a browser cache expires.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        not_found = Path(self.directory) / "404.html"
        if code != 404 or self.command != "GET" or not not_found.is_file():
            return super().send_error(code, message, explain)
        body = not_found.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", CONTENT_TYPES[".html"])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None

    def log_message(self, format: str, *args) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def site_server(folder: Path, port: int, quiet: bool = False) -> ThreadingHTTPServer:
    """A server of the site in ``folder`` on 127.0.0.1:``port`` (0: any free port),
    not yet serving: call ``serve_forever()``."""
    folder = Path(folder)
    if not (folder / "index.html").is_file():
        raise EspressoStaticError(f"No site in {folder} (no index.html): run build-site first.")
    handler = type("Handler", (SiteRequestHandler,), {"quiet": quiet})
    try:
        return ThreadingHTTPServer((HOST, port), functools.partial(handler, directory=str(folder)))
    except OSError as error:
        raise EspressoStaticError(
            f"Cannot serve on {HOST}:{port}: {error.strerror or error}; choose another --port."
        ) from error


def site_url(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_port}/"
