"""`make pdf`: the single-page build printed by headless chromium (tools/book_pdf.py).

The first test prints a tiny fake single-page site the way `make pdf` prints the book; the second
checks the real PDF, _build/pdf/bert-from-scratch.pdf, when `make pdf` built it after the last
change to a chapter (it is skipped otherwise: building the book is not a unit test's job).
Both are skipped without /usr/bin/chromium (Debian's `chromium`) or pypdf.
"""

import base64
import re
import shutil
from pathlib import Path

import pytest

from tools import book_pdf

pytest.importorskip("pypdf")

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / ".cache" / "npm" / "node_modules" / "mathjax" / "es5"
needs_chromium = pytest.mark.skipif(
    not book_pdf.CHROMIUM.exists(),
    reason=f"no browser at {book_pdf.CHROMIUM}: install Debian's chromium to print the PDF")

# what would mean that MathJax never ran: TeX's delimiters and commands in the printed text (not
# \[ and \], which the chapters' Python regular expressions print; tools/book_pdf.py fails on any
# formula left untypeset anyway)
RAW_LATEX = re.compile(r"\\\(|\$\$|\\(frac|sqrt|mathrm|mathbf|operatorname|begin|end|left|right|sum)\b")
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                         "hKmMIQAAAABJRU5ErkJggg==")


def chapter_titles() -> list[str]:
    """The first `# ` heading of every file in _toc.yml, as it reads on the page."""
    files = re.findall(r"^\s*(?:-\s*)?(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text(), re.M)
    titles = []
    for name in files:
        text = (ROOT / f"{name}.md").read_text(encoding="utf-8")
        heading = re.search(r"^# (.+)$", text, re.M).group(1)
        titles.append(re.sub(r"[`*_]", "", heading).strip())
    return titles


def normalized(text: str) -> str:
    """Text as extracted, with ligatures undone, Sphinx's curly apostrophes straight again, and
    line breaks and runs of spaces as one space."""
    text = text.replace("\u2019", "'").replace("\ufb01", "fi").replace("\ufb02", "fl").replace("\ufb00", "ff").replace("\u00ad", "")
    return re.sub(r"\s+", " ", text)


def check(pdf: Path, titles: list[str], min_pages: int) -> dict:
    facts = book_pdf.pdf_facts(pdf)
    text = normalized(facts["text"])
    assert facts["pages"] >= min_pages
    assert [title for title in titles if normalized(title) not in text] == []
    raw = [text[max(0, m.start() - 40):m.end() + 20] for m in RAW_LATEX.finditer(text)]
    assert raw == [], "TeX left in the text: MathJax did not typeset it"
    assert facts["internal_links"] > 0, "no link to a place in the PDF"
    return facts


FAKE_BOOK = """<!DOCTYPE html><html><head><title>A fake book</title>
<script>window.MathJax = {{options: {{processHtmlClass: "math", ignoreHtmlClass: "tex2jax_ignore"}}}}</script>
<script defer src="_static/mathjax/tex-chtml.js"></script></head>
<body class="tex2jax_ignore"><div class="bd-container"><main class="bd-main"><article class="bd-article">
<section id="document-book/index"><h1>A fake book</h1>
<p><a href="#document-book/two">The second chapter</a>, <a href="book/index.html#figure">the figure</a>.</p>
{filler}</section>
<section id="document-book/two"><h2>The second chapter</h2>
<p>Inline <span class="math notranslate nohighlight">\\(\\frac{{a}}{{b}}\\)</span> and displayed:</p>
<div class="math notranslate nohighlight">\\[\\sqrt{{x^2 + 1}}\\]</div>
<figure id="figure"><img src="_images/pixel.png" alt="" style="width:50px"></figure>
<table><tr>{cells}</tr></table></section>
</article></main></div></body></html>"""


@needs_chromium
@pytest.mark.skipif(not MATHJAX.is_dir(), reason="MathJax is not installed: run `make mathjax`")
@pytest.mark.slow
def test_a_fake_single_page_book_prints_with_math_figures_and_internal_links(tmp_path):
    site = tmp_path / "singlehtml"
    (site / "book").mkdir(parents=True)
    (site / "_images").mkdir()
    (site / "_images" / "pixel.png").write_bytes(PIXEL)
    shutil.copytree(MATHJAX, site / "_static" / "mathjax")
    filler = "<p>Filler text to fill a page.</p>" * 60
    cells = "".join(f"<td>column{i:03d}</td>" for i in range(40))  # wider than the page: shrunk to fit
    (site / "book" / "index.html").write_text(FAKE_BOOK.format(filler=filler, cells=cells), encoding="utf-8")
    out = tmp_path / "pdf" / "book.pdf"

    found = book_pdf.print_pdf(site, out)

    assert found["math"] == 2 and found["unrenderedCount"] == 0 and found["broken"] == []
    assert found["local"] == 2 and found["shrunk"] >= 1
    check(out, ["A fake book", "The second chapter"], min_pages=2)
    assert "column039" in normalized(book_pdf.pdf_facts(out)["text"])  # the wide table is not cut off
    assert [path.name for path in out.parent.iterdir()] == ["book.pdf"]  # no temporary file left


@needs_chromium
@pytest.mark.slow
def test_unrendered_math_fails_the_print(tmp_path):
    site = tmp_path / "singlehtml"
    (site / "book").mkdir(parents=True)
    (site / "book" / "index.html").write_text(
        '<html><body><span class="math">\\(x\\)</span></body></html>', encoding="utf-8")
    out = tmp_path / "book.pdf"

    with pytest.raises(book_pdf.PrintError, match="MathJax did not load"):
        book_pdf.print_pdf(site, out)
    assert not out.exists()


def _built_after_every_chapter() -> bool:
    if not book_pdf.PDF.is_file():
        return False
    sources = [ROOT / "_toc.yml", ROOT / "_config.yml", *(ROOT / "book").glob("*.md")]
    return book_pdf.PDF.stat().st_mtime > max(path.stat().st_mtime for path in sources)


@pytest.mark.skipif(not _built_after_every_chapter(),
                    reason="no _build/pdf/bert-from-scratch.pdf newer than every chapter: run `make pdf`")
def test_the_real_pdf_has_every_chapter_and_no_raw_tex():
    facts = check(book_pdf.PDF, chapter_titles(), min_pages=50)
    assert facts["internal_links"] >= 100
    assert "Devlin" in facts["text"]  # the bibliography
