"""Print the single-page build of the book to one PDF in headless chromium.

    python tools/book_pdf.py [SINGLEHTML_DIR] [--out PDF]
        defaults: _build/singlehtml and _build/pdf/bert-from-scratch.pdf

`make pdf` runs `jupyter-book build . --builder singlehtml` first (chapters come from the
execution cache, MathJax is copied into its _static/ by tools/book_site.py), then this script.
The folder is served on 127.0.0.1 as tools/site_check.py serves the site, with the same
offline browser (no request leaves 127.0.0.1). Jupyter Book writes the page to book/index.html,
but its links, figures and styles are relative to the folder's root, so the page is served at
the root's index.html. Before printing, every chapter starts on a new page, hidden code cells
are opened, every figure must have loaded and MathJax must have typeset every formula (the
print fails otherwise). Links to the page itself become #anchors, which chromium's PDF keeps
as internal links; `outline` gives the PDF bookmarks from the headings.

The PDF is written atomically (a temporary file, then a rename). The last line of the output
gives its page count, internal links, size and the seconds the print took.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from site_check import CHROMIUM, CHROMIUM_FLAGS, IN_BROWSER, MATH_IN_PAGE, serve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = "book/index.html"   # where Jupyter Book's singlehtml builder writes the book (root: book/index)
PDF = ROOT / "_build" / "pdf" / "bert-from-scratch.pdf"

# A4, 210 mm wide, less the side margins, in CSS pixels (96 per inch): the width the page is laid out at
MARGIN_MM = 14
PRINT_WIDTH = round((210 - 2 * MARGIN_MM) / 25.4 * 96)

# Print layout on top of the theme's own print styles: no navigation, a new page per chapter.
PRINT_CSS = """
@media print {
  .bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer,
  .bd-footer-article, .prev-next-area, .header-article-items, .headerlink, .toggle-button,
  .skip-link, #pst-back-to-top, .search-button-field { display: none !important; }
  .bd-container, .bd-container__inner, .bd-main, .bd-content, .bd-article-container, .bd-article {
    display: block !important; max-width: none !important; min-width: 0 !important;
    width: auto !important; padding: 0 !important; margin: 0 !important; }
  section[id^="document-"], span[id^="document-"] + section { break-before: page; }
  h1, h2, h3 { break-after: avoid; }
  figure, img, .cell_output, mjx-container[display="true"] { break-inside: avoid; }
  /* code as plain blocks that split where a page ends (the theme keeps each whole, which leaves
     an empty box at the foot of a page) */
  .cell_input, div[class*="highlight"] { display: block !important; }
  .cell_input, div[class*="highlight"], div[class*="highlight"] pre {
    break-inside: auto !important; overflow: visible !important; }
  pre { white-space: pre-wrap !important; word-break: break-word; }
  img { max-width: 100% !important; }
}
"""

# Run in the page before printing: open what is folded (solutions, collapsed outputs) but not the
# source of a `hide-input` cell (a figure's drawing code), whose fold myst-nb labels "Show code
# cell source" (a `hide-cell` fold says "content"); turn links to this page into #anchors, load
# every figure, wait for MathJax; report what would print broken.
PREPARE = """async (pagePath) => {
  document.querySelectorAll('details').forEach(d => {
    const summary = d.querySelector(':scope > summary');
    d.open = !(summary && /code cell source/.test(summary.textContent));
  });
  document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; });
  let local = 0;
  for (const a of document.querySelectorAll('a[href]')) {
    const url = new URL(a.getAttribute('href'), location.href);
    if (url.origin === location.origin && (url.pathname === location.pathname || url.pathname === pagePath)) {
      a.setAttribute('href', url.hash || '#');
      local++;
    }
  }
  // Sphinx's ids are unique per chapter, not in the single page: a citation (id2, id3, ...) goes
  // to its entry in the bibliography, another link to the id in its own chapter
  const byId = new Map();
  for (const el of document.querySelectorAll('[id]')) {
    if (!byId.has(el.id)) byId.set(el.id, []);
    byId.get(el.id).push(el);
  }
  // a chapter: the <section> after its <span id="document-book/...">
  const chapterOf = el => {
    for (let s = el.closest('section'); s; s = s.parentElement && s.parentElement.closest('section')) {
      const marker = s.previousElementSibling;
      if (s.id.startsWith('document-') || (marker && marker.id && marker.id.startsWith('document-'))) return s;
    }
    return null;
  };
  const renamed = new Map();
  let retargeted = 0;
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    const id = decodeURIComponent(a.getAttribute('href').slice(1)), targets = byId.get(id);
    if (!targets || targets.length < 2) continue;
    const chapter = chapterOf(a);
    const target = a.closest('.bibtex-citation')
        ? targets.find(t => t.matches('[role="doc-biblioentry"]'))
        : targets.find(t => chapterOf(t) === chapter);
    if (!target || target === targets[0]) continue;
    if (!renamed.has(target)) { renamed.set(target, `${id}--${renamed.size + 1}`); target.id = renamed.get(target); }
    a.setAttribute('href', '#' + renamed.get(target));
    retargeted++;
  }
""" + MATH_IN_PAGE + """  const broken = [];
  await Promise.all([...document.images].map(async img => {
    let decoded = true;
    try { await img.decode(); } catch (e) { decoded = false; }
    const url = img.currentSrc || img.src;
    if (!decoded || (img.naturalWidth === 0 && !/\\.svg($|[?#])/i.test(url))) broken.push(url);
  }));
  await document.fonts.ready;
  // what is wider than the printed page would be cut off: shrink it to fit (the viewport is the
  // page's printable width, and print styles are on)
  let shrunk = 0;
  for (const el of document.querySelectorAll('article table, article pre, article img, article mjx-container[display="true"]')) {
    const room = el.parentElement.clientWidth, width = el.scrollWidth;
    if (room > 0 && width > room + 1) { el.style.zoom = (room / width).toFixed(3); shrunk++; }
  }
  return {math: math.length, shrunk: shrunk, retargeted: retargeted, mathjax: mathjax, local: local, images: document.images.length,
          unrendered: unrendered.slice(0, 3).map(el => el.textContent.trim().slice(0, 60)),
          unrenderedCount: unrendered.length, broken: broken};
}"""

# the theme's search asks for it; the singlehtml builder writes none, and a PDF has no search box
NO_SEARCH_INDEX = "/searchindex.js"

FOOTER = ('<div style="font-size:8px;width:100%;text-align:center;color:#555">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


class PrintError(RuntimeError):
    """The page would print broken: math left as TeX, a figure that did not load, a script error."""


def print_pdf(html_dir: Path, out: Path, page_path: str = PAGE) -> dict:
    """Print html_dir/page_path to out (atomically); return what the page held."""
    from playwright.sync_api import sync_playwright

    html_dir, out = Path(html_dir).resolve(), Path(out)
    source = html_dir / page_path
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist: build it with "
                                "`jupyter-book build . --builder singlehtml` (make pdf does)")
    server, base = serve(html_dir)
    user_data = tempfile.mkdtemp(prefix="book-pdf-profile-")
    problems: list[str] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                user_data, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 900}, service_workers="block")
            page = context.new_page()
            page.set_default_timeout(600_000)
            # the page's URLs are relative to the root: serve it there
            page.route(base + "index.html", lambda route: route.fulfill(
                path=str(source), content_type="text/html; charset=utf-8"))
            page.route(lambda url: not url.startswith(base) and not url.startswith(IN_BROWSER),
                       lambda route: (problems.append(f"asks another site for {route.request.url}"),
                                      route.abort("blockedbyclient")))
            page.on("pageerror", lambda error: problems.append(
                f"JavaScript error: {str(error).splitlines()[0]}"))
            page.on("response", lambda response: problems.append(
                f"HTTP {response.status} for {urlsplit(response.url).path}")
                if response.status >= 400 and not response.url.endswith(NO_SEARCH_INDEX) else None)
            page.goto(base + "index.html", wait_until="load")
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            page.set_viewport_size({"width": PRINT_WIDTH, "height": 1000})
            found = page.evaluate(PREPARE, "/" + page_path)
            if found["math"] and found["mathjax"] != "loaded":
                problems.append(f"MathJax did not load: {found['math']} formula(s) left as raw TeX")
            elif found["unrenderedCount"]:
                problems.append(f"{found['unrenderedCount']} of {found['math']} formula(s) not typeset, "
                                f"e.g. {found['unrendered']}")
            problems += [f"figure did not load: {url}" for url in found["broken"]]
            if problems:
                raise PrintError("; ".join(problems))
            page.pdf(path=str(partial), format="A4", print_background=True, outline=True, tagged=True,
                     margin={"top": "16mm", "bottom": "16mm", "left": f"{MARGIN_MM}mm", "right": f"{MARGIN_MM}mm"},
                     display_header_footer=True, header_template="<span></span>", footer_template=FOOTER)
            context.close()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
        shutil.rmtree(user_data, ignore_errors=True)
    return found


def pdf_facts(path: Path) -> dict:
    """Pages, text, internal links (to a place in the PDF) and external links of a PDF."""
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    internal = external = 0
    for pdf_page in reader.pages:
        for annotation in pdf_page.get("/Annots") or []:
            annotation = annotation.get_object()
            if annotation.get("/Subtype") != "/Link":
                continue
            action = annotation.get("/A")
            action = action.get_object() if action is not None else {}
            if "/Dest" in annotation or action.get("/S") == "/GoTo":
                internal += 1
            elif action.get("/S") == "/URI":
                external += 1
    text = "\n".join(pdf_page.extract_text() or "" for pdf_page in reader.pages)
    return {"pages": len(reader.pages), "text": text, "internal_links": internal,
            "external_links": external, "outline": len(reader.outline)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", type=Path, default=ROOT / "_build" / "singlehtml")
    parser.add_argument("--out", type=Path, default=PDF)
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"book_pdf: no browser at {CHROMIUM}; install Debian's chromium (apt-get install -y "
              "chromium) or set SITE_CHECK_CHROMIUM", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        found = print_pdf(args.html_dir, args.out)
    except (FileNotFoundError, PrintError) as error:
        print(f"book_pdf: {error}", file=sys.stderr)
        return 1
    seconds = time.monotonic() - start
    facts = pdf_facts(args.out)
    print(f"{found['math']} formula(s) typeset, {found['images']} figure(s), "
          f"{found['local']} link(s) within the book ({found['retargeted']} to an id that chapters share), "
          f"{found['shrunk']} wide table(s) or formula(s) shrunk to fit")
    print(f"The PDF: {args.out} ({facts['pages']} pages, {facts['internal_links']} internal links, "
          f"{facts['outline']} top-level bookmarks, {args.out.stat().st_size / 1e6:.1f} MB), "
          f"printed in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
