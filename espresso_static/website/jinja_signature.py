"""What a Jinja environment compiles templates with, as a digest: compiled templates
kept by :meth:`espresso_static.website.cache.BuildCache.compiled_templates` are kept
apart for each (their code depends on it)."""

from __future__ import annotations

import hashlib

#: Settings of a Jinja environment that change the code a template compiles to.
_COMPILE_SETTINGS = (
    *(
        f"{part}_{end}_string"
        for part in ("block", "variable", "comment")
        for end in ("start", "end")
    ),
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "optimized",
    "is_async",
)


def environment_signature(env) -> str:
    """A digest of what a Jinja environment compiles with: its syntax, whitespace
    handling, extensions and the functions its code calls (by name)."""
    settings = [type(env).__qualname__, sorted(env.extensions)]
    settings += [getattr(env, name) for name in _COMPILE_SETTINGS]
    settings += [_qualified_name(env.autoescape), _qualified_name(env.finalize)]
    return hashlib.blake2b(repr(settings).encode(), digest_size=10).hexdigest()


def _qualified_name(value) -> str:
    if callable(value):
        return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"
    return repr(value)
