"""Payloads that would set ``window.esPwned`` if they ran, by family (what they try).

tests/test_hostile.py plants every one in every text a user controls (row values,
docstrings, help texts, verbose names, choices, defaults, the app's verbose name,
the project's name and description, hand-written pages' file names and front
matter, notifications), opens every page in Chromium and requires the marker unset.
"""

from __future__ import annotations

MARKER = "esPwned"

FAMILIES: dict[str, list[str]] = {
    "html": [
        "<img src=x onerror=esPwned=1>",
        "<svg onload=esPwned=1>",
        "<details open ontoggle=esPwned=1>x</details>",
        "<iframe srcdoc='<script>parent.esPwned=1</script>'></iframe>",
        "<body onload=esPwned=1>",
        "<<img src=x onerror=esPwned=1>>",
        "<img src=x onerror=esPwned=1//",
        "<svg><script>esPwned=1</script></svg>",
        "<math><mtext><img src=x onerror=esPwned=1></mtext></math>",
    ],
    "breakout": [
        "</script><script>esPwned=1</script>",
        "</title><img src=x onerror=esPwned=1>",
        "</textarea><img src=x onerror=esPwned=1>",
        "--><img src=x onerror=esPwned=1>",
        "]]><img src=x onerror=esPwned=1>",
        "<textarea>",  # an unclosed tag swallowing the rest of the page
        "<!--",
    ],
    "attribute": [
        '"><img src=x onerror=esPwned=1>',
        "'><img src=x onerror=esPwned=1>",
        '" onmouseover="esPwned=1" x="',
        "' autofocus onfocus='esPwned=1' x='",
    ],
    "url": [
        "[x](javascript:esPwned=1)",
        '<a href="javascript:esPwned=1">x</a>',
        "[x](JaVaScRiPt:esPwned=1)",
        "<a href='&#106;avascript:esPwned=1'>x</a>",
        "![x](x){: onerror=esPwned=1 }",
        "{: onclick=esPwned=1 }",
    ],
    "math": [
        r"\[<img src=x onerror=esPwned=1>\]",
        "$$ <img src=x onerror=esPwned=1> $$",
        "$<img src=x onerror=esPwned=1>$",
        "$$\n<details open ontoggle=esPwned=1>\n$$",
        r"\(<svg onload=esPwned=1>\)",
        r"$\href{javascript:esPwned=1}{x}$",
    ],
    "code span": [
        "`x\n<details open ontoggle=esPwned=1>\ny`",
        "``<img src=x onerror=esPwned=1>``",
        "```\n<img src=x onerror=esPwned=1>\n```",
        "    <img src=x onerror=esPwned=1>",
    ],
    "entities": [
        "&lt;img src=x onerror=esPwned=1&gt;",
        "&#60;img src=x onerror=esPwned=1&#62;",
        "\\u003cimg src=x onerror=esPwned=1\\u003e",
    ],
    "template": ["{{ 7*7 }}<img src=x onerror=esPwned=1>", "{% raw %}<svg onload=esPwned=1>"],
    "line breaks": [
        "x\r<img src=x onerror=esPwned=1>",
        "x\r\n\r\n<details open ontoggle=esPwned=1>",
        "x\u2028<svg onload=esPwned=1>",
        "x\u0085<img src=x onerror=esPwned=1>",
    ],
    "json": [
        '"}]</script><script>esPwned=1</script>',
        "\u2028\u2029</script><svg onload=esPwned=1>",
    ],
    "svg text": ["<tspan onclick=esPwned=1>x</tspan>", "]]></text><script>esPwned=1</script>"],
}

PAYLOADS = [payload for family in FAMILIES.values() for payload in family]
