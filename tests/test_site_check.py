"""The browser site check fails on what a reader would see broken, and passes a sound site.

Each test builds a tiny site in tmp_path and loads it in headless chromium; those tests are
skipped where there is no /usr/bin/chromium (install Debian's `chromium` to run them).
"""

import base64
import shutil

import pytest

from tools import site_check

needs_chromium = pytest.mark.skipif(
    not site_check.CHROMIUM.exists(),
    reason=f"no browser at {site_check.CHROMIUM}: install Debian's chromium to run the site check")

# a 1x1 PNG, so that the sound site has a figure that loads
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGA"
                         "hKmMIQAAAABJRU5ErkJggg==")


def page(body: str, title: str = "A page") -> str:
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"


def write_site(root, pages: dict[str, str]):
    for name, html in pages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
    return root


@needs_chromium
def test_a_sound_site_passes(tmp_path):
    site = write_site(tmp_path / "html", {
        "index.html": page('<a href="book/chapter.html#shapes">shapes</a> <a href="#top" id="top">top</a>'),
        "book/chapter.html": page('<h2 id="shapes">Shapes</h2><img src="../_images/pixel.png" alt="">'
                                  '<a href="../index.html">home</a>'),
    })
    (site / "_images").mkdir()
    (site / "_images" / "pixel.png").write_bytes(PIXEL)

    assert site_check.check_site(site, verbose=False) == []


@needs_chromium
def test_broken_links_missing_figures_and_script_errors_fail(tmp_path):
    site = write_site(tmp_path / "html", {
        "index.html": page('<a href="book/chapter.html">ok</a> <a href="book/missing.html">gone</a> '
                           '<a href="book/chapter.html#no-such-section">no anchor</a>'),
        "book/chapter.html": page('<h2 id="shapes">Shapes</h2><img src="../_images/figure.png" alt="">'),
        "book/broken.html": page('<script>throw new Error("boom")</script><p>text</p>'),
    })

    problems = site_check.check_site(site, verbose=False)

    assert "index.html: broken link: 'book/missing.html' (book/missing.html does not exist)" in problems
    assert ("index.html: broken link: 'book/chapter.html#no-such-section' "
            "(no id 'no-such-section' on book/chapter.html)") in problems
    assert ("book/chapter.html: missing figure file: '../_images/figure.png' "
            "(_images/figure.png does not exist)") in problems
    assert any(problem.startswith("book/broken.html: JavaScript error:") and "boom" in problem
               for problem in problems)
    assert len(problems) == 4, problems  # each problem once, and nothing on the sound parts


@needs_chromium
def test_an_image_that_does_not_decode_and_raw_math_fail(tmp_path):
    site = write_site(tmp_path / "html", {
        "index.html": page('<img src="figure.png" alt=""><p><span class="math">\\(x^2\\)</span></p>'),
    })
    (site / "figure.png").write_text("not a PNG")

    problems = site_check.check_site(site, verbose=False)

    assert "index.html: image did not load: figure.png" in problems
    assert any(problem.startswith("index.html: math not rendered: MathJax did not load")
               for problem in problems), problems


MATHJAX = site_check.ROOT / ".cache" / "npm" / "node_modules" / "mathjax" / "es5"


@needs_chromium
@pytest.mark.skipif(not (MATHJAX / "tex-chtml.js").exists(), reason="MathJax is not installed: run `make mathjax`")
def test_math_renders_offline_with_the_sites_own_mathjax(tmp_path):
    site = write_site(tmp_path / "html", {
        "index.html": page('<script defer src="_static/mathjax/tex-chtml.js"></script>'
                           '<p><span class="math notranslate nohighlight">\\(\\sqrt{d_k}\\)</span></p>'
                           '<div class="math notranslate nohighlight">\\[\\mathrm{softmax}(QK^T)V\\]</div>'),
    })
    shutil.copytree(MATHJAX, site / "_static" / "mathjax")

    assert site_check.check_site(site, verbose=False) == []


@needs_chromium
def test_a_page_that_asks_another_site_for_anything_fails(tmp_path):
    # MathJax from a CDN (what Sphinx does by default), a style sheet and an image from elsewhere;
    # the browser has no network, and a link to another site is fine: nothing loads it
    cdn = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"
    site = write_site(tmp_path / "html", {
        "index.html": page(f'<link rel="stylesheet" href="https://fonts.example.com/font.css">'
                           f'<script defer src="{cdn}"></script>'
                           '<p><span class="math">\\(x^2\\)</span> <a href="https://github.com/">code</a></p>'
                           '<img src="https://example.com/figure.png" alt="">'),
        "offline.html": page('<a href="https://github.com/">code</a> <a href="index.html">home</a>'),
    })

    problems = site_check.check_site(site, verbose=False)

    outside = [problem for problem in problems if "asked another site" in problem]
    assert len(outside) == 1, problems  # one line for the page, naming what it asked for
    assert outside[0].startswith("index.html: asked another site for 3 file(s), blocked")
    for url in (cdn, "https://fonts.example.com/font.css", "https://example.com/figure.png"):
        assert url in outside[0]
    assert any(problem.startswith("index.html: math not rendered: MathJax did not load")
               for problem in problems), problems
    assert len(problems) == 2, problems  # the blocked image is not reported again as broken
    assert not any(problem.startswith("offline.html") for problem in problems)


def test_without_a_browser_the_check_is_skipped_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(site_check, "CHROMIUM", tmp_path / "no-chromium")

    assert site_check.main([str(tmp_path)]) == 0
    assert "site check SKIPPED" in capsys.readouterr().out


@needs_chromium
def test_a_code_cell_wider_than_its_column_fails(tmp_path):
    """A code cell whose longest line does not fit scrolls sideways; one that fits passes."""
    def cell(line: str) -> str:
        return f'<div class="cell_input"><pre style="width: 400px; overflow: auto">{line}</pre></div>'

    fits, too_wide = "x = 1\nprint(x)", "y = " + " + ".join(["1"] * 200)
    site = write_site(tmp_path / "html", {"index.html": page(cell(fits) + cell(too_wide))})

    problems = site_check.check_site(site, verbose=False)

    assert len(problems) == 1, problems
    assert problems[0].startswith(f"index.html: code cell 2 on the page scrolls sideways at "
                                  f"{site_check.VIEWPORT['width']} px: a line needs "), problems
    assert f"({len(too_wide)} characters: 'y = 1 + 1" in problems[0]
