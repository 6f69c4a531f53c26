"""The theme as build-site hands it to MkDocs: its hidden folders are not listed (MkDocs
copies nothing from them), and MkDocs copies exactly the theme files it would copy
from the theme as it comes."""

from __future__ import annotations

import io

from mkdocs.config import load_config
from mkdocs.structure.files import Files
from mkdocs.theme import Theme

from espresso_static.website.mkdocs_build import DEFAULT_THEME, _add_theme_overrides


def theme_files(config, env) -> list[str]:
    files = Files([])
    files.add_files_from_theme(env, config)
    return sorted(file.src_uri for file in files)


def test_mkdocs_copies_the_same_theme_files_without_listing_hidden_folders(tmp_path):
    (tmp_path / "docs").mkdir()
    config = load_config(
        config_file=io.StringIO("site_name: theme files\n"),
        docs_dir=str(tmp_path / "docs"),
        site_dir=str(tmp_path / "site"),
        theme=DEFAULT_THEME,
    )
    _add_theme_overrides(config)
    as_it_comes = Theme.get_env(config.theme)  # the class's own: every folder listed
    ours = config.theme.get_env()
    hidden = [name for name in as_it_comes.list_templates() if "/." in f"/{name}"]
    assert hidden, (
        "the theme has hidden folders (mkdocs-material's .icons): else this tests nothing"
    )
    assert not [name for name in ours.list_templates() if "/." in f"/{name}"]
    copied = theme_files(config, ours)
    assert copied == theme_files(config, as_it_comes)
    assert any(name.endswith(".css") for name in copied) and any(
        name.endswith(".js") for name in copied
    )
