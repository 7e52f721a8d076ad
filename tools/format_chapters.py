"""Format the chapters' code cells with ruff, so that every line fits the site's code column.

    python tools/format_chapters.py           # rewrite the chapters in book/ in place
    python tools/format_chapters.py --check   # list what it would change; exit 1 if anything

Ruff formats code but never wraps a comment or a string. So this tool first re-wraps comment
paragraphs that run past the line length, and moves an over-long trailing comment onto its own
line above the code; then ruff formats each chapter as a notebook (it knows IPython's `%` and `!`
lines). What is still too long is a string or a docstring, which only a person can break well:
`--check` lists each one as `book/X.md, code cell N, line M`, numbered as tools/tangle.py numbers
cells. The line length lives in pyproject.toml's [tool.ruff]; _static/book.css sizes the code
column for it, and tools/site_check.py checks in a browser that no code cell scrolls sideways.
Only the code cells change: jupytext writes the Markdown cells back as they were.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tempfile
import textwrap
import tokenize
import tomllib
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LINE_LENGTH = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["ruff"]["line-length"]
RUFF = Path(sys.executable).with_name("ruff")
COMMENT_LINE = re.compile(r"^(\s*)# ?(.*)$")
# jupytext writes its own version into the header; the chapters leave it out (as jupytext.toml
# tells JupyterLab), so that a new jupytext does not touch every chapter
JUPYTEXT_VERSION = re.compile(r"^    jupytext_version: .*\n", re.MULTILINE)


def chapters(book: Path) -> list[Path]:
    """The MyST notebooks in book/ (pages without a jupytext header have no code cells)."""
    return sorted(path for path in book.glob("*.md")
                  if "format_name: myst" in path.read_text(encoding="utf-8")[:400])


def is_prose_comment(line: str) -> bool:
    """A full-line comment that reads as running text: not a `#|` directive, not indented inside
    the comment (a table, a list, a command line), not a bullet."""
    match = COMMENT_LINE.match(line)
    if not match or line.lstrip().startswith(("#|", "#!")):
        return False
    text = match.group(2)
    return bool(text) and not text.startswith((" ", "- ", "* ")) and not re.match(r"\d+[.)] ", text)


def wrap_comment_paragraphs(lines: list[str], width: int) -> list[str]:
    """Re-wrap each run of prose comment lines at one indent that has a line over `width`."""
    out, i = [], 0
    while i < len(lines):
        if not is_prose_comment(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        indent = COMMENT_LINE.match(lines[i]).group(1)
        j = i
        while j < len(lines) and is_prose_comment(lines[j]) and COMMENT_LINE.match(lines[j]).group(1) == indent:
            j += 1
        run = lines[i:j]
        if max(map(len, run)) > width:
            words = " ".join(COMMENT_LINE.match(line).group(2).strip() for line in run)
            run = textwrap.wrap(words, width, initial_indent=indent + "# ", subsequent_indent=indent + "# ",
                                break_long_words=False, break_on_hyphens=False)
        out.extend(run)
        i = j
    return out


def lift_trailing_comments(source: str, width: int) -> str:
    """Move each trailing comment whose line is over `width` onto comment lines above its code.

    Only where that is safe: a line that does not continue a string from the line before (a comment
    inserted there would land inside the string). A cell that does not tokenize as Python (IPython
    magics) is left to ruff as it is."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return source
    inside_string = {row for token in tokens if token.type == tokenize.STRING
                     for row in range(token.start[0] + 1, token.end[0] + 1)}
    lines = source.split("\n")
    for token in reversed(tokens):  # bottom up, so that inserted lines do not shift rows still to do
        row, col = token.start
        if token.type != tokenize.COMMENT or token.string.startswith("#|"):
            continue
        line = lines[row - 1]
        if len(line) <= width or row in inside_string or not line[:col].strip():
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines[row - 1] = line[:col].rstrip()
        text = token.string.lstrip("#").strip()
        lines[row - 1:row - 1] = textwrap.wrap(text, width, initial_indent=indent + "# ",
                                               subsequent_indent=indent + "# ", break_long_words=False)
    return "\n".join(lines)


def wrap_comments(source: str, width: int = LINE_LENGTH) -> str:
    source = lift_trailing_comments(source, width)
    return "\n".join(wrap_comment_paragraphs(source.split("\n"), width))


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), *args, "--config", str(PYPROJECT)], capture_output=True, text=True)


def formatted(notebook) -> tuple[list[str], list[tuple[int, int, int]]]:
    """The code cells' new sources, and (code cell, line, length) of each line still too long."""
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    cells = [{"cell_type": "code", "source": wrap_comments(cell.source), "metadata": {}, "outputs": [],
              "execution_count": None} for cell in code]
    ipynb = {"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4,
             "nbformat_minor": 5}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chapter.ipynb"
        path.write_text(json.dumps(ipynb), encoding="utf-8")
        result = ruff("format", "--quiet", str(path))
        if result.returncode:
            raise SystemExit(f"ruff could not format the chapter: {result.stderr.strip()}")
        sources = ["".join(cell["source"]).rstrip("\n")
                   for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]]
        path.write_text(json.dumps({**ipynb, "cells": [{**cell, "source": source} for cell, source
                                                       in zip(cells, sources)]}), encoding="utf-8")
        report = ruff("check", "--quiet", "--select", "E501", "--output-format", "json", str(path))
    too_long = [(item["cell"], item["location"]["row"], int(re.search(r"\((\d+) >", item["message"])[1]))
                for item in json.loads(report.stdout or "[]")]
    return sources, too_long


def format_chapter(chapter: Path, check: bool) -> list[str]:
    """Format one chapter (unless `check`); one line per cell that changes or a line still too long."""
    notebook = jupytext.read(chapter, fmt="md:myst")
    sources, too_long = formatted(notebook)
    name = chapter.relative_to(ROOT).as_posix() if chapter.is_relative_to(ROOT) else str(chapter)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    changed = [number for number, (cell, source) in enumerate(zip(code, sources), 1) if cell.source != source]
    problems = [f"{name}, code cell {cell}, line {line}: {length} characters, over {LINE_LENGTH}; "
                "wrap the string or docstring by hand" for cell, line, length in too_long]
    if check:
        problems[:0] = [f"{name}, code cell {number}: not formatted" for number in changed]
    elif changed:
        for cell, source in zip(code, sources):
            cell.source = source
        text = JUPYTEXT_VERSION.sub("", jupytext.writes(notebook, fmt="md:myst"))
        chapter.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list what is not formatted")
    parser.add_argument("chapters", nargs="*", type=Path, help="chapters (default: every one in book/)")
    args = parser.parse_args(argv)
    problems = [line for chapter in args.chapters or chapters(ROOT / "book")
                for line in format_chapter(chapter.resolve(), args.check)]
    for line in problems:
        print(line)
    if problems and args.check:
        print(f"{len(problems)} problem(s): run `python tools/format_chapters.py` and wrap what it lists")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
