"""Sphinx extension (see _config.yml): the pages as readers get them.

1. The Colab launch button opens the chapter's notebook. sphinx-book-theme points it at the
   chapter's source, `book/X.md`, but Colab opens only `.ipynb` files. The book's workflow
   (.github/workflows/book.yml) publishes the executed notebooks, `book/X.ipynb`, on the branch
   named by `colab_notebooks_branch`, and the button is pointed there.
2. Each script is included once. Scripts that an extension adds after the HTML builder started
   (sphinx-thebe's settings, sphinx-togglebutton's selector) reach the page twice in Sphinx 7.4,
   once from the registry and once from the builder, and sphinx-thebe's copy declares a `const`:
   the second copy throws "Identifier 'THEBE_JS_URL' has already been declared" in every page.
   tools/site_check.py is what found it.
3. MathJax ships with the site. `make mathjax` (a step of `make book` and `make test`) installs it
   from npm into the folder that `mathjax_package` names; the build copies its `es5` folder, and
   its licence, into the site's `_static` folder, where `mathjax_path` (relative to `_static`)
   points. The local build and the hosted site render math with no network, and no page asks
   another site for anything (tools/site_check.py fails a page that does).
4. Every page says which edition it is: the footer names the version (pyproject.toml), the commit
   the site was built from (`git rev-parse --short HEAD`; "unknown" outside git) and the day of
   the build (UTC, or SOURCE_DATE_EPOCH's day where that is set). The text is a theme option, so a
   new commit or a new day makes Sphinx write every page again, not only the changed ones.
5. The notebooks a reader downloads or opens on Colab (`_sources/book/X.ipynb`, which the workflow
   also publishes for Colab) install the package from the commit the site was built from, not
   from `main`: their launch cell's `REF = "main"` becomes that commit. The package then fetches
   the results a chapter reads (`bert.files.book_file`) from the same commit, so a notebook, its
   code and its results always belong together.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tomllib
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _point_colab_at_notebooks(app, pagename, templatename, context, doctree) -> None:
    branch = app.config.colab_notebooks_branch
    options = app.config.html_theme_options
    colab = options.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    if not branch or not colab:
        return
    book = options.get("path_to_docs", "").strip("/")
    notebook = PurePosixPath(book, pagename + ".ipynb").as_posix()
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []):
            url = button.get("url", "")
            if url.startswith(colab + "/github/"):
                # .../github/ORG/REPO/blob/BRANCH/PATH -> .../github/ORG/REPO/blob/notebooks/X.ipynb
                head = url.split("/blob/", 1)[0]
                button["url"] = f"{head}/blob/{branch}/{notebook}"


def _include_each_script_once(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = (getattr(script, "filename", script) or "",
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # the builder restores its own list after each page


def _copy_mathjax(app) -> None:
    """MathJax's es5 folder into _static/, where mathjax_path points (builder-inited)."""
    path = app.config.mathjax_path
    if app.builder.format != "html" or not app.config.mathjax_package or "://" in path or path[:1] == "/":
        return  # another builder, or a MathJax from elsewhere on purpose
    package = Path(app.confdir, app.config.mathjax_package)
    es5 = package / "es5"
    script = PurePosixPath(path)
    if not (es5 / script.name).is_file():
        raise ExtensionError(f"MathJax is not installed: {es5 / script.name} does not exist. Run "
                             "`make mathjax` (make book and make test run it), which installs it from npm.")
    target = Path(app.outdir, "_static", *script.parent.parts)
    shutil.copytree(es5, target, dirs_exist_ok=True)
    if (package / "LICENSE").is_file():  # Apache 2.0: the licence travels with the copy
        shutil.copy2(package / "LICENSE", target / "LICENSE")
    logger.info(f"MathJax: {es5} copied to {target}")


def _git(confdir: str, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", "-C", confdir, *args], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def edition(confdir: str) -> dict[str, str]:
    """The version (pyproject.toml), the commit checked out (short and full) and the build day."""
    pyproject = Path(confdir, "pyproject.toml")
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")) if pyproject.is_file() else {}
    version = project.get("project", {}).get("version", "")
    commit = _git(confdir, "rev-parse", "HEAD") or ""
    changes = _git(confdir, "status", "--porcelain") if commit else None
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    built = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return {"version": version, "commit": commit[:7] or "unknown", "commit_full": commit,
            "uncommitted_changes": "yes" if changes else "", "date": built.date().isoformat()}


def _show_edition(app, config) -> None:
    """The edition into html_context["edition"] and, as a sentence, into the footer (config-inited)."""
    facts = edition(app.confdir)
    options = config.html_theme_options
    commit = f"<code>{html.escape(facts['commit'])}</code>"
    if facts["commit_full"] and (repository := options.get("repository_url", "").rstrip("/")):
        commit = f'<a href="{html.escape(repository)}/tree/{facts["commit_full"]}">{commit}</a>'
    changes = " with uncommitted changes" if facts["uncommitted_changes"] else ""
    version = f"Version {html.escape(facts['version'])}. " if facts["version"] else ""
    sentence = (f'<p class="book-edition">{version}Built from commit {commit}{changes} '
                f"on {facts['date']}.</p>")
    # new dicts, not the defaults' own: the theme options are part of the hash that decides
    # which pages Sphinx writes again, so a new commit or day rewrites every page's footer
    config.html_theme_options = {**options, "extra_footer": options.get("extra_footer", "") + sentence}
    config.html_context = {**config.html_context, "edition": facts}


LAUNCH_REF = re.compile(r'^REF = "main"', re.MULTILINE)  # in each chapter's first, hidden cell


def pin_launch_cell(notebook: dict, commit: str) -> bool:
    """Make the notebook's launch cell install `commit` instead of main; True if it did."""
    for cell in notebook.get("cells", [])[:3]:
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "code" and LAUNCH_REF.search(text):
            cell["source"] = LAUNCH_REF.sub(f'REF = "{commit}"', text)
            return True
    return False


def _pin_downloaded_notebooks(app, exception) -> None:
    """build-finished: every executed notebook in _sources/ installs the build's own commit."""
    commit = app.config.html_context.get("edition", {}).get("commit_full")
    if exception is not None or app.builder.format != "html" or not commit:
        return
    pinned = 0
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if pin_launch_cell(notebook, commit):
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            pinned += 1
    logger.info(f"launch cells of {pinned} notebook(s) pinned to commit {commit[:7]}")


def setup(app):
    app.add_config_value("colab_notebooks_branch", "notebooks", "html")
    app.add_config_value("mathjax_package", "", "html")  # the npm package's folder, from the book's root
    app.connect("config-inited", _show_edition)
    app.connect("builder-inited", _copy_mathjax)
    app.connect("build-finished", _pin_downloaded_notebooks)
    # after sphinx-book-theme's launch buttons (priority 501) and every page-specific script
    app.connect("html-page-context", _point_colab_at_notebooks, priority=900)
    app.connect("html-page-context", _include_each_script_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
