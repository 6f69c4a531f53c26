"""Hostile text: what a database, a docstring or a notification may hold, and what the
published site must show as text and never run."""

from __future__ import annotations

#: The fixed payloads, by what they try to break.
PAYLOADS = {
    "script": "</script><script>alert(1)</script>",
    "attribute": '"><img src=x onerror=alert(1)>',
    "url": "javascript:alert(1)",
    "markdown link": "[x](javascript:alert(1))",
    "html link": '<a href="javascript:alert(1)">x</a>',
    "template": "{{ 7*7 }} {% raw %} {%- endraw %}",
    "mermaid": "end } -- %% \"q' ;\nclassDef x",
    "bidi": "left \u202eright\u202c txt.exe",
    "nul": "nul\x00byte",
}
#: A very long value (a page must not break or choke on it).
LONG = "long " + "x" * 100_000
