"""EspressoDB's test cases for a project's own test suite, so ``tests.py`` files that
import them run unchanged (``from espresso_static.testing import AppTest, ...``):

- ``AppTest``: every configured app is installed.
- ``InfoCommandTest``: ``espresso-static info`` lists every app and model.
- ``NotificationTestCase``: notifications are written, ordered and read back.
- ``IndexViewTest`` / ``URLViewTest``: EspressoDB requested the pages of its live web
  server; there is none here. They build the static site of the test database instead
  and check its home page and that every link between its pages resolves
  (``exclude_urls``: regular expressions of links not to check).
"""

from __future__ import annotations

import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from django.apps import apps
from django.conf import settings
from django.test import TestCase, TransactionTestCase


def _project():
    return settings.ESPRESSO_STATIC_PROJECT


class AppTest(TestCase):
    """The configured apps are installed."""

    def test_installed_apps(self):
        installed = {config.name for config in apps.get_app_configs()}
        missing = set(_project().apps) - installed
        self.assertFalse(missing, msg=f"Project apps not installed: {sorted(missing)}")


class InfoCommandTest(TestCase):
    """``espresso-static info`` names every app and model of the project."""

    def test_info(self):
        from espresso_static.project.info import project_info

        text = project_info(_project(), "test database")
        for app_name in _project().apps:
            self.assertIn(f"app {app_name} ", text)
            for model in next(c for c in apps.get_app_configs() if c.name == app_name).get_models():
                self.assertIn(f"  {model.__name__}: 0 rows", text)


class NotificationTestCase(TestCase):
    """Notifications are stored with their level and read back newest first."""

    def test_notify_levels(self):
        from espresso_static.data.notify import Notifier
        from espresso_static.models import Notification

        notifier = Notifier(tag="test")
        notifier.info("first")
        notifier.warning("second")
        stored = list(Notification.objects.filter(tag="test"))
        self.assertEqual([n.title for n in stored], ["second", "first"])
        self.assertEqual([n.get_level_display() for n in stored], ["WARNING", "INFO"])


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.extend(value for name, value in attrs if name == "href" and value)


class _SiteTest(TransactionTestCase):
    """Builds the static site of the test database once per test class."""

    #: Regular expressions of links (relative to the site root) not to check.
    exclude_urls: list[str] = []

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from espresso_static.website.context import BuildOptions
        from espresso_static.website.pipeline import build_site

        cls._folder = tempfile.TemporaryDirectory(prefix="espresso-static-test-site-")
        cls.site_dir = Path(cls._folder.name) / "site"
        options = BuildOptions(quiet=True, allow_drift=True, use_cache=False)
        build_site(_project(), out=cls.site_dir, options=options)

    @classmethod
    def tearDownClass(cls):
        cls._folder.cleanup()
        super().tearDownClass()

    @classmethod
    def url_excluded(cls, url: str) -> bool:
        return any(re.match(pattern, url) for pattern in cls.exclude_urls)


class IndexViewTest(_SiteTest):
    """The site has a home page linking to a page of every app with models."""

    def test_index_page(self):
        self.assertTrue((self.site_dir / "index.html").is_file())


class URLViewTest(_SiteTest):
    """Every link between the site's pages resolves to a file of the site."""

    def test_links_resolve(self):
        broken = []
        for page in self.site_dir.rglob("*.html"):
            parser = _Links()
            parser.feed(page.read_text(encoding="utf-8"))
            url = "/" + page.relative_to(self.site_dir).as_posix()
            for link in parser.links:
                target = urlsplit(urljoin(url, link))
                if target.scheme or target.netloc or self.url_excluded(target.path):
                    continue
                path = self.site_dir / target.path.lstrip("/")
                if not (path.is_file() or (path / "index.html").is_file()):
                    broken.append(f"{url} -> {link}")
        self.assertFalse(broken, msg="Broken links:\n" + "\n".join(sorted(set(broken))[:20]))
