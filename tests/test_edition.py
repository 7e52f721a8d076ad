"""Every place that names the edition names the same one.

The version is pyproject.toml's; CITATION.cff (both its top level, which cffconvert reads, and its
preferred-citation, which GitHub's "Cite this repository" shows) and the How to cite page repeat
it, with the release date. The built site's footer names the version and the commit it was built
from (tools/book_site.py), checked here from the sentence it writes.
"""

import re
import tomllib
from pathlib import Path

import yaml

from tools import book_site

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
CITATION = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
HOW_TO_CITE = (ROOT / "book" / "how_to_cite.md").read_text(encoding="utf-8")


def test_citation_cff_gives_the_packages_version_and_a_release_date():
    assert str(CITATION["version"]) == VERSION
    assert str(CITATION["preferred-citation"]["version"]) == VERSION
    released = str(CITATION["date-released"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", released), released
    assert str(CITATION["preferred-citation"]["date-released"]) == released
    assert str(CITATION["preferred-citation"]["year"]) == released[:4]


def test_how_to_cite_states_the_same_version_and_date():
    assert f"version {VERSION}" in HOW_TO_CITE
    assert f"version      = {{{VERSION}}}" in HOW_TO_CITE  # the BibTeX entry
    assert str(CITATION["date-released"]) in HOW_TO_CITE
    # no other version number slipped in
    assert set(re.findall(r"version\s+(\d+\.\d+\.\d+)", HOW_TO_CITE, re.I)) == {VERSION}


def test_the_edition_outside_git_is_unknown(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "9.8.7"\n', encoding="utf-8")
    facts = book_site.edition(str(tmp_path))
    assert facts["version"] == "9.8.7"
    assert facts["commit"] == "unknown"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", facts["date"])


def test_every_page_names_its_edition_in_the_footer():
    """What tools/book_site.py puts in the theme's footer (which every page shows), for this checkout.
    (A test of the built pages would read the previous build: pytest runs before the book is built.)"""
    from types import SimpleNamespace

    config = SimpleNamespace(html_theme_options={"repository_url": "https://github.com/o/r"}, html_context={})
    book_site._show_edition(SimpleNamespace(confdir=str(ROOT)), config)
    footer = re.compile(rf'<p class="book-edition">Version {re.escape(VERSION)}\. Built from commit '
                        r"(?:<a href=\"https://github.com/o/r/tree/[0-9a-f]{40}\">)?<code>(?:[0-9a-f]{7}|unknown)</code>"
                        r"(?:</a>)?(?: with uncommitted changes)? on \d{4}-\d{2}-\d{2}\.</p>")
    assert footer.fullmatch(config.html_theme_options["extra_footer"]), config.html_theme_options
    assert config.html_context["edition"]["version"] == VERSION


def test_the_launch_cell_of_a_downloaded_notebook_installs_the_builds_commit():
    """What the build does to _sources/book/X.ipynb (tools/book_site.py, build-finished)."""
    launch = ['#| hide\n', 'REF = "main"\n', 'REPO = "bert-from-scratch/bert-from-scratch"\n']
    notebook = {"cells": [{"cell_type": "markdown", "source": ['REF = "main"\n']},
                          {"cell_type": "code", "source": launch}]}

    assert book_site.pin_launch_cell(notebook, "abc123" * 6)
    assert notebook["cells"][1]["source"] == ''.join(launch).replace('"main"', f'"{"abc123" * 6}"')
    assert notebook["cells"][0]["source"] == ['REF = "main"\n'], "only the code cell changes"
    assert not book_site.pin_launch_cell({"cells": [{"cell_type": "code", "source": "x = 1"}]}, "abc")


def test_every_chapters_launch_cell_can_be_pinned():
    chapters = [path for path in (ROOT / "book").glob("*.md") if "```{code-cell}" in path.read_text()]
    unpinnable = [path.name for path in chapters
                  if not book_site.LAUNCH_REF.search(path.read_text().split("```{code-cell}")[1])]
    assert len(chapters) >= 14 and not unpinnable, unpinnable
