"""Every figure of the book is readable where it is shown: sized for the column, with alt text.

A figure is a code cell that ends in `plt.show()`. Its alt text is the cell's `mystnb.image.alt`
metadata, which myst-nb writes into the <img>; a screen reader, and a reader whose image did not
load, get it instead of the picture. Its width is the first number of `figsize=(w, h)`: the
theme's content column takes 7.5 inches at the page's scale before the figure is shrunk, and a
shrunk figure's text is too small to read. Colours for dark mode come from book/matplotlibrc
(opaque white figures), checked in tests/test_local_run.py.
"""

import re
from pathlib import Path

import jupytext
import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
COLUMN_INCHES = 7.5
FIGSIZE = re.compile(r"figsize=\(\s*([\d.]+)\s*,")


def figure_cells():
    for chapter in sorted(BOOK.glob("*.md")):
        if "```{code-cell}" not in chapter.read_text(encoding="utf-8"):
            continue
        code = [c for c in jupytext.read(chapter).cells if c.cell_type == "code"]
        for number, cell in enumerate(code, 1):
            if "plt.show()" in cell.source:
                yield f"{chapter.name}, code cell {number}", cell


FIGURES = list(figure_cells())


def test_the_book_has_figures():
    assert len(FIGURES) >= 20


@pytest.mark.parametrize("where, cell", FIGURES, ids=[where for where, _ in FIGURES])
def test_a_figure_has_alt_text_and_fits_the_column(where, cell):
    alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
    assert len(alt.split()) >= 8, f"{where}: no alt text (mystnb: image: alt: in the cell's metadata)"
    widths = [float(width) for width in FIGSIZE.findall(cell.source)]
    assert all(width <= COLUMN_INCHES for width in widths), f"{where}: figsize width {widths}"
