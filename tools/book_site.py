"""Sphinx extension (see _config.yml): two fixes to the pages as readers get them.

1. The Colab launch button opens the chapter's notebook. sphinx-book-theme points it at the
   chapter's source, `book/X.md`, but Colab opens only `.ipynb` files. The book's workflow
   (.github/workflows/book.yml) publishes the executed notebooks, `book/X.ipynb`, on the branch
   named by `colab_notebooks_branch`, and the button is pointed there.
2. Each script is included once. Scripts that an extension adds after the HTML builder started
   (sphinx-thebe's settings, sphinx-togglebutton's selector) reach the page twice in Sphinx 7.4,
   once from the registry and once from the builder, and sphinx-thebe's copy declares a `const`:
   the second copy throws "Identifier 'THEBE_JS_URL' has already been declared" in every page.
   tools/site_check.py is what found it.
"""

from __future__ import annotations

from pathlib import PurePosixPath


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


def setup(app):
    app.add_config_value("colab_notebooks_branch", "notebooks", "html")
    # after sphinx-book-theme's launch buttons (priority 501) and every page-specific script
    app.connect("html-page-context", _point_colab_at_notebooks, priority=900)
    app.connect("html-page-context", _include_each_script_once, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
