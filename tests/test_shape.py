"""Shape targets for the package, checked over bert/ by a test anyone can run: `pytest tests/test_shape.py`.

1. No module has more than MAX_MODULE_LINES code lines. A code line is one that is not blank and
   not only a comment; docstrings count as code (every line a string literal spans counts, blank
   lines inside it included).
2. No function or method is longer than MAX_FUNCTION_LINES lines, counted from its `def` line to
   its last line (ast's end_lineno), decorators excluded. Nested functions are counted on their own
   too.
3. No library module (every bert/*.py but cli.py and __init__.py) reads `sys.argv`: an attribute
   `argv` of the name `sys` (or of what `import sys as ...` bound), or `from sys import argv`.
4. No library module's strings (constants, the literal pieces of f-strings, docstrings) name a flag
   of our own command line: every long option of `bert.cli.build_parser()` and of each of its
   subcommands, the `--no-X` of BooleanOptionalAction included (argparse's own `--help` is not
   ours), matched as a whole token.

Each failure message lists every offender as `file:line (chapter, code cell): what (size)`, so the
output is a to-do list. bert/ is generated from book/, so the chapter and code cell that produced
the line are named too. The checks are functions of a path; the last tests run them on small
synthetic modules, to show they catch what they claim to.
"""

import argparse
import ast
import io
import re
import tokenize
from collections import Counter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bert"
# Counted in lines as tools/format_chapters.py leaves them: ruff at 88 columns. The limits were 300
# and 60 when the chapters ran to ~110 columns; ruff's layout made the same code about 1.5 times as
# many lines (bert/ went from 3,898 to 5,406 lines), so they were scaled with it.
MAX_MODULE_LINES = 480
MAX_FUNCTION_LINES = 90
NOT_LIBRARY = {"cli.py", "__init__.py"}
NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER, tokenize.ENCODING}
CELL_MARK = re.compile(r"^# %% (.+)$")  # tools/tangle.py's banner above each exported cell


# ---- the checks: each takes a path and returns what it found ---------------------------------

def code_lines(path: Path) -> int:
    """Lines covered by a token that is not a comment or whitespace (so docstrings count)."""
    lines = set()
    for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if token.type not in NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines)


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[tuple[int, str, int]]:
    """(def line, qualified name, lines) of every function or method longer than `limit` lines."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = child.end_lineno - child.lineno + 1  # lineno is the `def`, not a decorator
                if size > limit:
                    found.append((child.lineno, prefix + child.name, size))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return found


def argv_uses(path: Path) -> list[tuple[int, str]]:
    """(line, code) of every `sys.argv` and `from sys import argv`."""
    tree = ast.parse(path.read_text())
    sys_names = {"sys"} | {alias.asname for node in ast.walk(tree) if isinstance(node, ast.Import)
                           for alias in node.names if alias.name == "sys" and alias.asname}
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "argv"
                and isinstance(node.value, ast.Name) and node.value.id in sys_names):
            found.append((node.lineno, f"{node.value.id}.argv"))
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            found += [(node.lineno, "from sys import argv") for alias in node.names if alias.name == "argv"]
    return sorted(found)


def flag_pattern(flag: str) -> re.Pattern:
    """`flag` as a whole token: not part of a longer word or flag (`--resume` is not in `--resumed`)."""
    return re.compile(rf"(?<![\w-]){re.escape(flag)}(?![\w-])")


def flag_mentions(path: Path, flags: set[str]) -> list[tuple[int, str]]:
    """(line, flag) for each flag named in a string of the module: constants, f-string pieces, docstrings."""
    source = path.read_text()
    lines = source.splitlines()
    patterns = {flag: flag_pattern(flag) for flag in flags}
    found = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue  # f-string pieces are Constants inside a JoinedStr; docstrings are Constants too
        for flag, pattern in patterns.items():
            if pattern.search(node.value):
                span = range(node.lineno, node.end_lineno + 1)
                hits = [n for n in span if pattern.search(lines[n - 1])]  # the line the flag is written on
                found.update((n, flag) for n in hits or [node.lineno])
    return sorted(found)


def cli_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every long option of `parser` and of its subcommands, `--no-X` of BooleanOptionalAction included."""
    flags = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                flags |= cli_flags(subparser)
        elif not isinstance(action, argparse._HelpAction):
            long = {s for s in action.option_strings if s.startswith("--")}
            if isinstance(action, argparse.BooleanOptionalAction):  # Python adds these; make sure
                long |= {"--no-" + s[2:] for s in long if not s.startswith("--no-")}
            flags |= long
    return flags


# ---- reporting --------------------------------------------------------------------------------

def modules() -> list[Path]:
    return sorted(PACKAGE.glob("*.py"))


def library_modules() -> list[Path]:
    return [path for path in modules() if path.name not in NOT_LIBRARY]


def where(path: Path, line: int) -> str:
    """`bert/x.py:12 (book/09_training_loop.md, code cell 3)`: the file line and the chapter cell it came from."""
    cell = None
    for text in path.read_text().splitlines()[:line]:
        if match := CELL_MARK.match(text):
            cell = match.group(1)
    name = path.relative_to(PACKAGE.parent) if path.is_relative_to(PACKAGE.parent) else path
    return f"{name}:{line}" + (f" ({cell})" if cell else "")


def todo(title: str, offenders: list[str]) -> str:
    return f"{title}: {len(offenders)} to do\n" + "\n".join(f"  {o}" for o in offenders)


def module_offenders(paths: list[Path], limit: int = MAX_MODULE_LINES) -> list[str]:
    return [f"{where(p, 1)}: {n} code lines (limit {limit})" for p in paths if (n := code_lines(p)) > limit]


def function_offenders(paths: list[Path], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    return [f"{where(p, line)}: def {name}, {size} lines (limit {limit})"
            for p in paths for line, name, size in long_functions(p, limit)]


def argv_offenders(paths: list[Path]) -> list[str]:
    return [f"{where(p, line)}: {code} ({n} use{'s' * (n > 1)} on the line; only cli.py may read the command line)"
            for p in paths for (line, code), n in Counter(argv_uses(p)).items()]


def flag_offenders(paths: list[Path], flags: set[str]) -> list[str]:
    offenders = []
    for p in paths:
        by_line = {}
        for line, flag in flag_mentions(p, flags):
            by_line.setdefault(line, []).append(flag)
        offenders += [f"{where(p, line)}: a string names {len(named)} CLI flag{'s' * (len(named) > 1)}: "
                      f"{', '.join(named)}" for line, named in by_line.items()]
    return offenders


# ---- the targets, over bert/ ------------------------------------------------------------------

def test_no_module_over_300_code_lines():
    offenders = module_offenders(modules())
    assert not offenders, todo(f"modules over {MAX_MODULE_LINES} code lines", offenders)


def test_no_function_over_60_lines():
    offenders = function_offenders(modules())
    assert not offenders, todo(f"functions over {MAX_FUNCTION_LINES} lines", offenders)


def test_no_library_module_reads_sys_argv():
    offenders = argv_offenders(library_modules())
    assert not offenders, todo("library modules that read sys.argv", offenders)


def test_no_library_string_names_a_cli_flag():
    from bert.cli import build_parser

    flags = cli_flags(build_parser())
    assert {"--resume", "--no-nsp"} <= flags  # the walk reached the subcommands and BooleanOptionalAction
    offenders = flag_offenders(library_modules(), flags)
    assert not offenders, todo("CLI flags named in library strings", offenders)


# ---- the checker, on synthetic modules --------------------------------------------------------

def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def statements(count: int, indent: str) -> str:
    return "".join(f"{indent}x{i} = {i}\n" for i in range(count))


def test_code_lines_skip_blanks_and_comments_but_count_docstrings(tmp_path):
    path = write(tmp_path, "m.py", '"""A docstring\n\nof three lines."""\n\n# a comment\n   # another\nx = 1  # code\n')
    assert code_lines(path) == 4
    at_limit = write(tmp_path, "ok.py", "# header\n\n" + statements(MAX_MODULE_LINES, "") + "\n# end\n")
    over = write(tmp_path, "big.py", statements(MAX_MODULE_LINES + 1, ""))
    assert module_offenders([at_limit]) == []
    assert module_offenders([over]) == [f"{over}:1: {MAX_MODULE_LINES + 1} code lines (limit {MAX_MODULE_LINES})"]


def test_long_functions_are_found_by_def_line_without_decorators(tmp_path):
    path = write(tmp_path, "f.py", (
        "import functools\n\n\n@functools.cache\n@functools.wraps(print)\ndef fits():\n"
        + statements(MAX_FUNCTION_LINES - 1, "    ")  # with its def line: the limit, decorators not counted
        + "\n\nclass Trainer:\n    def fit(self):\n" + statements(3, "        ")
        + "        def step():\n" + statements(MAX_FUNCTION_LINES, "            ")  # one over
        + "        return step\n"))
    lines = path.read_text().splitlines()
    fit, step = lines.index("    def fit(self):") + 1, lines.index("        def step():") + 1
    assert long_functions(path) == [(fit, "Trainer.fit", 1 + 3 + MAX_FUNCTION_LINES + 1 + 1),
                                    (step, "Trainer.fit.<locals>.step", MAX_FUNCTION_LINES + 1)]
    assert function_offenders([path])[1] == (f"{path}:{step}: def Trainer.fit.<locals>.step, "
                                             f"{MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})")


def test_argv_uses_are_found_in_every_spelling(tmp_path):
    path = write(tmp_path, "a.py", "import sys\nimport sys as system\nfrom sys import argv, exit\n\n"
                                   "first = sys.argv[1]\nrest = system.argv[2:]\nsys.exit(0)\n"
                                   "argv_text = 'sys.argv'  # only a string\n")
    assert argv_uses(path) == [(3, "from sys import argv"), (5, "sys.argv"), (6, "system.argv")]
    assert argv_offenders([path])[1] == f"{path}:5: sys.argv (1 use on the line; only cli.py may read the command line)"
    twice = write(tmp_path, "b.py", "import sys\nname = sys.argv[0] if sys.argv else None\n")
    assert argv_offenders([twice]) == [f"{twice}:2: sys.argv (2 uses on the line; only cli.py may read the command line)"]


def test_flag_mentions_are_whole_tokens_in_strings_only(tmp_path):
    flags = {"--resume", "--no-nsp", "--lr"}
    path = write(tmp_path, "s.py", (
        '"""Run it again with --resume."""\n'  # 1: docstring
        "# --resume in a comment is not a string\n"  # 2
        "steps = 3\n"  # 3
        "message = (f'{steps} steps; '\n"  # 4
        "           f'pass --no-nsp to skip NSP')\n"  # 5: an f-string piece, second line of the expression
        "others = ['--resumed', 'x--lr', '--lr-min', '---lr', '--no-nsp-ever']\n"  # 6: no whole flag
        "ok = '(--lr)'\n"  # 7: punctuation around is fine
        "def f():\n    '''Multi-line\n    docstring naming --lr\n    here.'''\n"))  # 10
    assert flag_mentions(path, flags) == [(1, "--resume"), (5, "--no-nsp"), (7, "--lr"), (10, "--lr")]
    assert flag_offenders([path], flags)[1] == f"{path}:5: a string names 1 CLI flag: --no-nsp"
    both = write(tmp_path, "t.py", "hint = 'bert pretrain --resume --lr 1e-4'\n")
    assert flag_offenders([both], flags) == [f"{both}:1: a string names 2 CLI flags: --lr, --resume"]


def test_cli_flags_walk_subcommands_and_negated_options():
    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers()
    train = commands.add_parser("train")
    train.add_argument("--nsp", action=argparse.BooleanOptionalAction, default=True)
    train.add_argument("--corpus", "--data", "-c")
    nested = train.add_subparsers().add_parser("deeper")
    nested.add_argument("--depth", type=int)
    assert cli_flags(parser) == {"--debug", "--nsp", "--no-nsp", "--corpus", "--data", "--depth"}
