"""List every number the book's prose states that no cell computed, no source is cited for, and
no allowlist entry explains.

    python tools/prose_numbers.py            # every chapter in book/; exit 1 if any is listed
    python tools/prose_numbers.py --summary  # how many numbers are glued, cited, allowed, ...

A number in the prose is fine when it is one of these:

- **glued**: the prose shows it through myst-nb's `{glue:text}` role, so a cell that ran in the
  build computed it;
- **cited**: its sentence cites a source, with `{cite}` (a paper) or a link to the page or the
  file it comes from;
- **a reference**: the number of a chapter, section, figure, table, equation, exercise, part or
  version ("chapter 10", "Table 5", "§5.3"), or a year;
- **small**: an integer from 0 to 10 without a unit of measure (%, s, ms, MB, GB, ...) or a
  decimal point: a count in a definition or a setting ("two sentences", "3 seeds", "label 1"),
  not a result;
- **allowed**: an entry of tools/prose_numbers.toml names a phrase of its sentence that holds the
  number, with the reason it is neither glued nor cited (a setting the chapter chooses, a fact of
  a file format, a number the prose derives on the spot). An entry that matches nothing is
  listed too, so the allowlist cannot rot.

Numbers inside code, math, roles and link targets are not prose and are not read. Each problem is
one line, `book/X.md:LINE: NUMBER in "...its sentence..."`.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST = ROOT / "tools" / "prose_numbers.toml"

# What is not prose: masked with spaces (newlines kept), so that offsets still give line numbers.
NOT_PROSE = [
    re.compile(r"\A---\n.*?\n---\n", re.S),  # front matter
    re.compile(r"^(`{3,}|~{3,}).*?^\1[ \t]*$", re.S | re.M),  # fenced code, code cells, directives
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<![\\$])\$(?!\s)[^$\n]+?(?<!\s)\$"),
    re.compile(r"^\([\w-]+\)=[ \t]*$", re.M),  # MyST targets
    re.compile(r"^:[\w-]+:.*$", re.M),  # directive options
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<https?://[^>]+>"),
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles, glued numbers among them
    re.compile(r"``.+?``|`[^`\n]+`"),  # inline code
]
GLUED = re.compile(r"\{glue(?::\w+)?\}`[^`]*`")
CITES = re.compile(r"\{cite(?::\w+)?\}`|\]\(https?://")
NUMBER = re.compile(
    r"(?<![\w.\-/#^])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:\s?(%|×|x\b|ms\b|s\b|min\b|MB\b|GB\b|M\b|B\b|k\b))?"
    r"(?![\w.]\d|\w)")
REFERENCE_WORD = re.compile(
    r"(?:\b(?:chapters?|sections?|figures?|fig\.|tables?|equations?|eq\.|exercises?|parts?|"
    r"versions?|pr|issues?|appendix|pages?|step|steps|rows?|columns?|lines?)|§)\s*\(?$",
    re.IGNORECASE)
LIST_GLUE = re.compile(r"^\s*(?:,|and|or|to|–|-|, and)\s*$")  # "chapters 2, 7 and 9", "2 to 9"
SENTENCE_END = re.compile(  # not after "et al.", "e.g.", "i.e.", "vs." or an initial ("J. Smith")
    r"(?:(?<!\bal)(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\b[A-Za-z])\.|[!?:;])(?=\s+[A-Z(*`{])|\n\s*\n")


@dataclass
class Found:
    chapter: Path
    line: int
    number: str
    sentence: str
    verdict: str  # glued, cited, reference, small, allowed, or "" (a problem)


def masked(text: str) -> str:
    for pattern in NOT_PROSE:
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return text


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of the original text, roughly: ends at . ! ? : ; before a
    capital, or at a blank line."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def is_year(number: str) -> bool:
    return number.isdigit() and 1950 <= int(number) <= 2035


def scan(chapter: Path, allowed: dict[str, str]) -> list[Found]:
    text = chapter.read_text(encoding="utf-8")
    prose = masked(text)
    glued = len(GLUED.findall(text))
    found = [Found(chapter, 0, "glue", "", "glued") for _ in range(glued)]
    for start, end in sentences(text):
        sentence_prose = prose[start:end]
        original = " ".join(text[start:end].split())
        cited = bool(CITES.search(text[start:end]))
        reference_end = None  # where the last reference number ended, for lists of them
        for match in NUMBER.finditer(sentence_prose):
            whole, decimals, unit = match.group(1), match.group(2), match.group(3)
            line = text.count("\n", 0, start + match.start()) + 1
            value = match.group(0).strip()
            before = sentence_prose[:match.start()]
            reference = not unit and (
                REFERENCE_WORD.search(before.rstrip()) is not None  # "Table 5", "§5.3"
                or (not decimals and reference_end is not None
                    and LIST_GLUE.match(sentence_prose[reference_end:match.start()]) is not None))
            reference_end = match.end() if reference else None
            if cited:
                verdict = "cited"
            elif reference or (not unit and is_year(whole)):
                verdict = "reference"
            elif not decimals and not unit and "," not in whole and int(whole) <= 10:
                verdict = "small"
            elif any(phrase in original and value.split()[0] in phrase for phrase in allowed):
                verdict = "allowed"
            else:
                verdict = ""
            found.append(Found(chapter, line, value, original, verdict))
    return found


def chapters(book: Path) -> list[Path]:
    return sorted(path for path in book.glob("*.md"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", action="store_true", help="count the numbers by verdict")
    parser.add_argument("paths", nargs="*", type=Path, help="chapters (default: book/*.md)")
    args = parser.parse_args(argv)
    allowlist = tomllib.loads(ALLOWLIST.read_text(encoding="utf-8")) if ALLOWLIST.exists() else {}
    problems, counts, used = [], Counter(), set()
    for chapter in args.paths or chapters(ROOT / "book"):
        name = chapter.resolve().relative_to(ROOT).as_posix()
        allowed = allowlist.get(name, {})
        for item in scan(chapter.resolve(), allowed):
            counts[item.verdict or "unexplained"] += 1
            if item.verdict == "allowed":
                used |= {(name, phrase) for phrase in allowed if phrase in item.sentence}
            if not item.verdict:
                shown = item.sentence if len(item.sentence) < 140 else item.sentence[:137] + "..."
                problems.append(f"{name}:{item.line}: {item.number} in \"{shown}\"")
        problems += [f"{name}: allowlist entry {phrase!r} matches no number of the prose"
                     for phrase in allowed if (name, phrase) not in used]
    if args.summary:
        print(", ".join(f"{verdict} {n}" for verdict, n in counts.most_common()))
    else:
        print("\n".join(problems))
        if problems:
            print(f"{len(problems)} number(s) neither glued, nor cited, nor allowed "
                  f"(tools/prose_numbers.toml, with a reason)")
    return 1 if problems and not args.summary else 0


if __name__ == "__main__":
    sys.exit(main())
