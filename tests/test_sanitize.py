"""Notification Markdown is rendered and sanitized: hostile payloads lose every way to
run code, harmless formatting survives."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from espresso_static.website import sanitize
from espresso_static.website.sanitize import markdown_to_html

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<img src="javascript:alert(1)">',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
    "<body onload=alert(1)>",
    '<div onclick="alert(1)" onmouseover="alert(2)">click</div>',
    '<a href="javascript:alert(1)">link</a>',
    '<a href="JaVaScRiPt:alert(1)">link</a>',
    '<a href=" javascript:alert(1)">link</a>',
    '<a href="jav&#x09;ascript:alert(1)">link</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="vbscript:msgbox(1)">link</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">link</a>',
    "[markdown link](javascript:alert(1))",
    "[markdown link](javascript&#58;alert(1))",
    "[ref link][x]\n\n[x]: javascript:alert(1)",
    "![image](javascript:alert(1))",
    "![image](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<iframe src=https://evil.example></iframe>",
    '<object data="https://evil.example/x.swf"></object>',
    '<embed src="https://evil.example/x.swf">',
    '<form action="https://evil.example"><input name=q><button>go</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<link rel=stylesheet href="https://evil.example/x.css">',
    "<style>body { display: none }</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<base href=https://evil.example/>",
    "<template><script>alert(1)</script></template>",
    "<details open ontoggle=alert(1)>x</details>",
    '<input autofocus onfocus="alert(1)">',
    '<video><source onerror="alert(1)"></video>',
    '<a href="https://ok.example" target="_blank" onclick="alert(1)">ok</a>',
    "`<script>alert(1)</script>` in code is text",
    "<!-- <script>alert(1)</script> -->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
]

ALLOWED_SCHEMES = {"http", "https", "mailto"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "background", "poster"}
FORBIDDEN_TAGS = {
    "script", "style", "iframe", "object", "embed", "form", "input", "button", "meta",
    "link", "base", "svg", "math", "template", "body", "video", "source", "noscript",
}  # fmt: skip


def url_scheme(url: str) -> str | None:
    """The scheme a browser would see (it ignores whitespace and control characters)."""
    cleaned = re.sub(r"[\x00-\x20]", "", url).lower()
    match = re.match(r"([a-z][a-z0-9+.-]*):", cleaned)
    return match.group(1) if match else None


def assert_harmless(html: str) -> None:
    soup = BeautifulSoup(html, "html.parser")
    for element in soup.find_all(True):
        assert element.name not in FORBIDDEN_TAGS, html
        for attribute, value in element.attrs.items():
            assert not attribute.lower().startswith("on"), html
            assert attribute.lower() != "style", html
            if attribute.lower() in URL_ATTRIBUTES:
                scheme = url_scheme(value)
                assert scheme is None or scheme in ALLOWED_SCHEMES, html
    assert "javascript:" not in html.lower().replace(" ", "") or "<code>" in html


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_payloads_lose_every_way_to_run_code(payload):
    assert_harmless(markdown_to_html(payload))


def test_text_of_hostile_elements_is_dropped_with_them():
    html = markdown_to_html("before <script>alert('owned')</script> after")
    assert "alert" not in html
    assert "before" in html and "after" in html


def test_code_stays_visible_as_text():
    html = markdown_to_html("`<script>alert(1)</script>`")
    code = BeautifulSoup(html, "html.parser").find("code")
    assert code.get_text() == "<script>alert(1)</script>"


def test_harmless_markdown_survives():
    html = markdown_to_html(
        "**3 files** corrupt on *tape*; see [the log](https://example.org/log) or "
        "[the status page](../status/).\n\n"
        "| file | size |\n| --- | --- |\n| a.h5 | 0 |\n\n"
        "```\nls -l\n```\n\n- one\n- two\n"
    )
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("strong").get_text() == "3 files"
    assert soup.find("em").get_text() == "tape"
    links = {a.get_text(): a for a in soup.find_all("a")}
    assert links["the log"]["href"] == "https://example.org/log"
    assert links["the status page"]["href"] == "../status/"
    assert "noopener" in links["the log"]["rel"]
    assert [td.get_text() for td in soup.select("table td")] == ["a.h5", "0"]
    assert soup.find("pre").get_text().strip() == "ls -l"
    assert [li.get_text() for li in soup.find_all("li")] == ["one", "two"]


def test_empty_content_renders_nothing():
    assert markdown_to_html("") == ""


def test_a_text_leaves_nothing_for_the_next_one():
    """The converter is reused: abbreviations, footnotes and link references one text
    defines must not reach the next (each renders as it would alone)."""
    import markdown

    texts = [
        "*[HTML]: Hyper Text Markup Language\n\nHTML here.",
        "A note[^1] and a [link][ref].\n\n[^1]: the note\n\n[ref]: https://example.org",
        "HTML, [link][ref] and [^1] again.",
    ]
    alone = [
        sanitize.neutralise(
            sanitize.sanitize_html(
                markdown.markdown(
                    text,
                    extensions=sanitize.MARKDOWN_EXTENSIONS,
                    extension_configs=sanitize.MARKDOWN_SETTINGS,
                )
            )
        )
        for text in texts
    ]
    assert [sanitize.markdown_to_html(text) for text in texts] == alone
    assert "<abbr" not in alone[2] and "footnote" not in alone[2] and "href" not in alone[2]


@pytest.mark.parametrize(
    "text",
    [
        "tracking ![p](https://tracker.example/pixel.png)",
        "![p](//tracker.example/pixel.png)",
        "![p](HTTP://tracker.example/pixel.png)",
        "[![p](https://tracker.example/pixel.png)](https://example.org/)",
        '<img src="https://tracker.example/pixel.png" alt="p">',
        '<img src="/\\tracker.example/pixel.png" alt="p">',
        '<img src=" &#104;ttps://tracker.example/pixel.png" alt="p">',
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="p">',
    ],
)
def test_no_image_comes_from_another_server(text):
    images = BeautifulSoup(markdown_to_html(text), "html.parser").find_all("img")
    assert not [image for image in images if image.has_attr("src")]


def test_a_remote_image_is_a_link_with_its_alt_text_and_a_local_one_stays():
    soup = BeautifulSoup(
        markdown_to_html("![p](https://tracker.example/pixel.png) ![chart](img/chart.png)"),
        "html.parser",
    )
    link = soup.find("a")
    assert (link.get_text(), link["href"]) == ("p", "https://tracker.example/pixel.png")
    assert [image["src"] for image in soup.find_all("img")] == ["img/chart.png"]
    linked = BeautifulSoup(
        markdown_to_html("[![logo](https://example.org/logo.png)](https://example.org/)"),
        "html.parser",
    )
    assert [(a.get_text(), a["href"]) for a in linked.find_all("a")] == [
        ("logo", "https://example.org/")
    ]


@pytest.mark.parametrize(
    "help_text", ["<div>block</div>", "one\n\ntwo", "- a\n- b", "<blockquote>q</blockquote>"]
)
def test_prose_in_a_table_cell_keeps_the_table_whole(help_text):
    """A help text in the fields table (inside a ``<div markdown>``, as the model page
    writes it): a block element there would end the table, the next rows spilled."""
    import markdown as python_markdown

    from espresso_static.website.mkdocs_build import REQUIRED_EXTENSIONS
    from espresso_static.website.sanitize import prose_inline

    table = (
        '<div class="es-fields" markdown>\n\n| Name | Help |\n| --- | --- |\n'
        f"| kind | {prose_inline(help_text)} |\n| next | row |\n\n</div>\n"
    )
    extensions = [name for name, _ in REQUIRED_EXTENSIONS if name != "pymdownx.snippets"]
    page = BeautifulSoup(python_markdown.markdown(table, extensions=extensions), "html.parser")
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in page.select("tbody tr")]
    assert [row[0] for row in rows] == ["kind", "next"], page
    assert rows[1] == ["next", "row"]
