"""tools/format_chapters.py: ruff lays out the chapters' code cells, and only the code cells.

The comment wrapping is checked line by line against what a person would write; the whole tool
on a small chapter in tmp_path, whose Markdown must come back byte for byte. That every chapter
in book/ is formatted, `make test` checks itself (`tools/format_chapters.py --check`).
"""

import pytest

from tests import test_tangle
from tools import format_chapters
from tools.format_chapters import LINE_LENGTH, format_chapter, wrap_comments

HEADER = test_tangle.HEADER + """
# A chapter

Some prose with a *list*:

- one
- two

"""

LONG = f'message = "{"a long message " * 7}"'  # a string ruff cannot break
needs_ruff = pytest.mark.skipif(not format_chapters.RUFF.exists(),
                                reason=f"no ruff at {format_chapters.RUFF}: `make venv` installs it")


def test_a_long_comment_paragraph_is_rewrapped_to_the_line_length():
    words = "why this line exists, " * 8
    source = f"# {words.strip()}\n# and a second line.\nx = 1"

    lines = wrap_comments(source, width=40).split("\n")

    assert all(len(line) <= 40 for line in lines), lines
    assert all(line.startswith("# ") for line in lines[:-1]) and lines[-1] == "x = 1"
    assert " ".join(line[2:] for line in lines[:-1]) == f"{words.strip()} and a second line."


def test_short_comments_tables_and_directives_keep_their_lines():
    source = ("#| export\n"
              "# short\n"
              "#   make book   an aligned table row that is long enough to be over the limit\n"
              "- not a comment")

    assert wrap_comments(source, width=40) == source


def test_a_long_trailing_comment_moves_above_its_code():
    source = "def f(x):\n    return x + 1  # the reason this adds one, which is long\n"

    assert wrap_comments(source, width=40) == (
        "def f(x):\n    # the reason this adds one, which is\n    # long\n    return x + 1\n")


def test_a_comment_after_a_multiline_string_stays_where_it_is():
    """Moving it above its line would put it inside the string."""
    source = 'text = """one\ntwo"""  # a trailing comment that is far too long to fit\n'

    assert wrap_comments(source, width=30) == source


@needs_ruff
def test_the_tool_formats_code_cells_and_leaves_markdown_alone(tmp_path):
    chapter = tmp_path / "chapter.md"
    code = ("```{code-cell} ipython3\n"
            "#| export\n"
            "def f(a,b):\n"
            "    return {'a':a,'b':b}\n"
            "```\n\n"
            "More prose.\n\n"
            "```{code-cell} ipython3\n"
            "%timeit f(1, 2)\n"
            f"{LONG}\n"
            "```\n")
    chapter.write_text(HEADER + code, encoding="utf-8")

    problems = format_chapter(chapter, check=True)
    assert chapter.read_text(encoding="utf-8") == HEADER + code, "--check must change nothing"
    assert problems[0].endswith("chapter.md, code cell 1: not formatted"), problems
    assert problems[1].endswith(f"chapter.md, code cell 2, line 2: {len(LONG)} "
                                f"characters, over {LINE_LENGTH}; wrap the string or docstring "
                                "by hand"), problems

    assert len(format_chapter(chapter, check=False)) == 1  # the string is left to a person
    text = chapter.read_text(encoding="utf-8")
    assert text.startswith(HEADER), "the header and the Markdown before the code come back as they were"
    assert "def f(a, b):\n    return {\"a\": a, \"b\": b}\n" in text and "\nMore prose.\n" in text
    assert "%timeit f(1, 2)\n" in text, "IPython's magics survive"
    assert format_chapter(chapter, check=True) == problems[1:], "formatting twice changes nothing"

