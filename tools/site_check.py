"""Open every page of the built site in a real browser and fail on what a reader would see broken.

    python tools/site_check.py [HTML_DIR]      default: _build/html

The site is served on 127.0.0.1 (a free port) and each page is loaded in headless Debian
`chromium`, driven by Playwright with the system browser (`playwright install` is never run: it
downloads a browser build, which this project's machines cannot fetch). A page fails when

  - a script throws (a `pageerror`), or the page asks the server for a file that is not there;
  - an <img> does not load (naturalWidth 0), or its file is missing from the site;
  - it asks another site for anything (a script, a style sheet, a font, an image, MathJax from a
    CDN): the browser has no network, every request that leaves 127.0.0.1 is blocked, and the
    page fails with one line naming what it asked for. The site must work offline, and its pages
    must not make a reader's browser contact a third party; links to other sites are fine, since
    nothing loads them until a reader follows one;
  - it has math that MathJax did not render: every `.math` element must end up holding an
    `mjx-container`, with no raw `\\(`, `\\[` or `$$` left over (MathJax is the site's own copy
    in `_static/mathjax/`, see tools/book_site.py);
  - an internal link is broken: the target file is missing, or its `#anchor` is not an id on the
    target page; a downloadable notebook (`.ipynb`) must also be a readable notebook;
  - a code cell scrolls sideways in the 1280-pixel-wide window the check uses: its longest line
    is wider than the code column (tools/format_chapters.py keeps lines to 88 columns, and
    _static/book.css sizes the column for them).

Screenshots of the home page and chapters 1, 4 and 12 are saved in a `screenshots` folder next to
HTML_DIR.

Exit status: 0 when every page passes, 1 (each problem on one line: page and problem) when not,
2 when the site is missing. Without /usr/bin/chromium the check says it was SKIPPED and exits 0.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("SITE_CHECK_CHROMIUM", "/usr/bin/chromium"))
VIEWPORT = {"width": 1280, "height": 900}  # a laptop's screen: the width code must fit
SCREENSHOTS = {"index.html": "index.png",
               "book/01_from_transformers_to_bert.html": "01_from_transformers_to_bert.png",
               "book/04_attention.html": "04_attention.png",
               "book/12_looking_inside.html": "12_looking_inside.png"}
# No network: every host name but 127.0.0.1's fails to resolve, whatever Playwright's routing sees
# (the routes below are what names each blocked request).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
# requests that stay in the browser: nothing leaves the machine for them
IN_BROWSER = ("data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads"}


# --- what the HTML files say: links, images and ids, read without a browser ---------------------


@dataclass
class PageLinks:
    ids: set[str] = field(default_factory=set)
    links: list[str] = field(default_factory=list)   # <a href>, <link href>, <meta refresh>
    assets: list[str] = field(default_factory=list)  # <img src>, <script src>
    redirect: str | None = None                      # <meta http-equiv="refresh" content="0; url=...">


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = PageLinks()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if "id" in attributes:
            self.page.ids.add(attributes["id"])
        if tag == "a" and "name" in attributes:
            self.page.ids.add(attributes["name"])
        if tag in ("a", "link") and "href" in attributes:
            self.page.links.append(attributes["href"])
        if tag in ("img", "script") and attributes.get("src"):
            self.page.assets.append(attributes["src"])
        if tag == "meta" and attributes.get("http-equiv", "").lower() == "refresh":
            if match := re.search(r"url\s*=\s*['\"]?([^'\"]+)", attributes.get("content", ""), re.I):
                self.page.redirect = match.group(1).strip()
                self.page.links.append(self.page.redirect)


@functools.lru_cache(maxsize=None)
def read_page(path: Path) -> PageLinks:
    parser = _LinkParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.page


def is_internal(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


def static_problems(html_dir: Path, page: Path) -> tuple[list[str], set[str]]:
    """Broken internal links and missing files of one page, from its HTML text.

    Returns the problems and the site paths (relative to html_dir) that the page needs but the
    site lacks, so that the browser's 404s for the same files are not reported twice."""
    problems, missing = [], set()
    content = read_page(page)
    for kind, urls in (("link", content.links), ("file", content.assets)):
        for url in urls:
            if not is_internal(url):
                continue
            parts = urlsplit(url)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(html_dir):
                problems.append(f"{kind} {url!r} points outside the site")
            elif not target.exists():
                name = target.relative_to(html_dir).as_posix()
                missing.add(name)
                what = ("broken link" if kind == "link" else
                        "missing figure file" if name.lower().endswith(FIGURE_SUFFIXES) else "missing file")
                problems.append(f"{what}: {url!r} ({name} does not exist)")
            elif parts.fragment and target.suffix == ".html":
                anchor = unquote(parts.fragment)
                if anchor not in read_page(target).ids:
                    problems.append(f"broken link: {url!r} (no id {anchor!r} on "
                                    f"{target.relative_to(html_dir).as_posix()})")
            elif target.suffix == ".ipynb":
                try:
                    notebook = json.loads(target.read_text(encoding="utf-8"))
                    assert isinstance(notebook.get("cells"), list)
                except (ValueError, AssertionError):
                    problems.append(f"notebook download {url!r} is not a readable .ipynb")
    return sorted(set(problems)), missing


# --- serving the site -----------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def serve(html_dir: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # port 0: a free one
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


# --- the browser ------------------------------------------------------------------------------------

# Run in the page after it loaded: wait for MathJax if the page has math, then report what a
# reader would see: images that did not load and math that is still raw TeX.
# JavaScript for the inside of an async function: wait for MathJax if the page has math, then set
# `math`, `mathjax` ('none', 'loaded' or 'missing') and `unrendered` (formulas still raw TeX). The
# site check and the PDF print (tools/book_pdf.py) both use it.
MATH_IN_PAGE = """  const math = [...document.querySelectorAll('.math')];
  let mathjax = 'none';
  if (math.length) {
    const script = document.querySelector('script[src*="mathjax" i]');  // none: nothing to wait for
    for (let i = 0; i < 100 && script && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
      await new Promise(r => setTimeout(r, 100));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
      mathjax = 'loaded';
    } else {
      mathjax = 'missing';
    }
  }
  const raw = /\\\\\\(|\\\\\\[|\\$\\$/;
  const unrendered = math.filter(el => !el.querySelector('mjx-container') || raw.test(
      [...el.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('')));
"""

INSPECT_PAGE = """async () => {
""" + MATH_IN_PAGE + """  const images = [...document.images];
  const broken = [];
  await Promise.all(images.map(async img => {
    img.loading = 'eager';
    let decoded = true;
    try { await img.decode(); } catch (e) { decoded = false; }
    const url = img.currentSrc || img.src;
    if (!decoded || (img.naturalWidth === 0 && !/\\.svg($|[?#])/i.test(url))) broken.push(url);
  }));
  return {
    math: math.length,
    rendered: document.querySelectorAll('mjx-container').length,
    mathjax: mathjax,
    unrendered: unrendered.slice(0, 3).map(el => el.textContent.trim().slice(0, 60)),
    unrenderedCount: unrendered.length,
    images: images.length,
    broken: broken,
    scrolling: [...document.querySelectorAll('div.cell_input pre')].map((pre, index) => ({
      cell: index + 1, need: pre.scrollWidth, have: pre.clientWidth,
      line: pre.textContent.split('\\n').reduce((a, b) => b.length > a.length ? b : a, ''),
    })).filter(code => code.need > code.have),
  };
}"""


@dataclass
class BrowserReport:
    errors: list[str] = field(default_factory=list)     # JavaScript errors, and pages that did not load
    not_found: set[str] = field(default_factory=set)    # site paths the server answered 404 for
    broken_images: set[str] = field(default_factory=set)  # site paths of <img> that did not load
    math: list[str] = field(default_factory=list)       # math that MathJax did not render
    scrolling: list[str] = field(default_factory=list)  # code cells wider than the code column
    outside: list[str] = field(default_factory=list)    # URLs of other sites it asked for (blocked)
    summary: str = ""


def browse(html_dir: Path, pages: list[Path], screenshots: Path | None) -> dict[Path, BrowserReport]:
    """Load each page in chromium and report what a reader would see broken."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    server, base = serve(html_dir)
    reports = {page: BrowserReport() for page in pages}
    user_data = tempfile.mkdtemp(prefix="site-check-profile-")  # a fresh browser profile every run

    def site_path(url: str) -> str:
        return unquote(urlsplit(url).path).lstrip("/")

    def leaves_site(url: str) -> bool:
        return not url.startswith(base) and not url.startswith(IN_BROWSER)

    def block(report: BrowserReport, request_route) -> None:  # any request that is not the site's own
        if (url := request_route.request.url) not in report.outside:
            report.outside.append(url)
        request_route.abort("blockedbyclient")

    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                user_data, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
                viewport=VIEWPORT, service_workers="block")
            for path in pages:
                relative = path.relative_to(html_dir).as_posix()
                report = reports[path]
                page = context.new_page()  # a new tab per page: no listener hears another page
                page.route(leaves_site, functools.partial(block, report))
                page.on("websocket", lambda socket: report.outside.append(socket.url)
                        if leaves_site(socket.url) else None)  # routes do not see web sockets
                page.on("pageerror", lambda error: report.errors.append(
                    f"JavaScript error: {str(error).splitlines()[0]}"))
                page.on("response", lambda response: report.not_found.add(site_path(response.url))
                        if response.status >= 400 and response.url.startswith(base) else None)
                try:
                    page.goto(base + relative, wait_until="load", timeout=30_000)
                    if redirect := read_page(path).redirect:
                        page.wait_for_url(urljoin(base + relative, redirect), wait_until="load", timeout=10_000)
                    found = page.evaluate(INSPECT_PAGE)
                except PlaywrightError as error:
                    report.errors.append(f"the browser could not load it: {str(error).splitlines()[0]}")
                    page.close()
                    continue
                # an image from another site was blocked: the line about the request says so
                report.broken_images = {site_path(url) for url in found["broken"] if not leaves_site(url)}
                if found["math"] and found["mathjax"] != "loaded":
                    report.math.append(f"math not rendered: MathJax did not load, {found['math']} formula(s) "
                                       "left as raw TeX")
                elif found["unrenderedCount"]:
                    report.math.append(f"math not rendered: {found['unrenderedCount']} of {found['math']} "
                                       f"formula(s), e.g. {found['unrendered']}")
                report.scrolling = [
                    f"code cell {code['cell']} on the page scrolls sideways at {VIEWPORT['width']} px: a line "
                    f"needs {code['need']} px, the column has {code['have']} "
                    f"({len(code['line'])} characters: {code['line'].strip()[:40]!r}...)"
                    for code in found["scrolling"]]
                shown = f" (redirects to {site_path(page.url)})" if read_page(path).redirect else ""
                report.summary = (f"{relative}{shown}: {found['images']} image(s), {found['math']} formula(s), "
                                  f"{found['rendered']} rendered by MathJax")
                if screenshots is not None and relative in SCREENSHOTS:
                    screenshots.mkdir(parents=True, exist_ok=True)
                    # a chapter's first exported cell, with its mark: what the code column looks like
                    page.evaluate("document.querySelector('p.export-mark')?.scrollIntoView()")
                    page.screenshot(path=str(screenshots / SCREENSHOTS[relative]))
                page.close()
            context.close()
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(user_data, ignore_errors=True)
    return reports


def html_pages(html_dir: Path) -> list[Path]:
    return sorted(path for path in html_dir.rglob("*.html")
                  if not SKIP_DIRS & set(path.relative_to(html_dir).parts[:-1]))


def check_site(html_dir: Path, screenshots: Path | None = None, verbose: bool = True) -> list[str]:
    """Every problem found, one `page: problem` line each; [] when the site passes."""
    html_dir = html_dir.resolve()
    pages = html_pages(html_dir)
    read_page.cache_clear()
    reports = browse(html_dir, pages, screenshots)
    lines = []
    for page in pages:
        relative = page.relative_to(html_dir).as_posix()
        report = reports[page]
        problems, missing = static_problems(html_dir, page)
        problems += report.errors
        problems += [f"image did not load: {name}" for name in sorted(report.broken_images - missing)]
        problems += [f"the server has no {name} (HTTP 404)" for name in sorted(report.not_found - missing)
                     if name not in report.broken_images and not name.endswith("favicon.ico")]
        if report.outside:
            shown = ", ".join(report.outside[:3]) + (f" and {len(report.outside) - 3} more"
                                                     if len(report.outside) > 3 else "")
            problems.append(f"asked another site for {len(report.outside)} file(s), blocked (the site must "
                            f"need no network): {shown}")
        problems += report.math
        problems += report.scrolling
        if verbose:
            print(f"  {'ok  ' if not problems else 'FAIL'} {report.summary or relative}")
        lines += [f"{relative}: {problem}" for problem in problems]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", type=Path, default=ROOT / "_build" / "html",
                        help="the built site (default: _build/html)")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="where to save the screenshots (default: HTML_DIR/../screenshots)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"site check SKIPPED: no browser at {CHROMIUM}. Install Debian's chromium "
              "(apt-get install -y chromium) to load every page in a real browser.")
        return 0
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        print("site check: Playwright is not installed; run `make venv` (it is in requirements.txt)",
              file=sys.stderr)
        return 2
    html_dir = args.html_dir.resolve()
    if not (html_dir / "index.html").exists():
        print(f"site check: {html_dir}/index.html does not exist; build the book first (make book)",
              file=sys.stderr)
        return 2
    screenshots = args.screenshots or html_dir.parent / "screenshots"
    start = time.perf_counter()
    print(f"site check: loading every page of {html_dir} in {CHROMIUM}")
    problems = check_site(html_dir, screenshots)
    pages = len(html_pages(html_dir))
    seconds = time.perf_counter() - start
    for problem in problems:
        print(problem)
    print(f"site check: {pages} pages, {len(problems)} problem(s), {seconds:.1f} s; "
          f"screenshots in {screenshots}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
