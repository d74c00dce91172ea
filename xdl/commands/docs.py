"""The README's (and docs') generated tables: the commands, read from the parser, and the exit
codes, from xdl.errors.EXIT_CODES. Each sits between `<!-- generated: NAME -->` and
`<!-- /generated -->`; nothing else in a page is touched.

    python -m xdl.commands.docs --write   # rewrite the tables
    python -m xdl.commands.docs --check   # exit 1, naming the page and table, where one is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from xdl.errors import EXIT_CODES

ROOT = Path(__file__).resolve().parents[2]  # the repository (a source checkout)
BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated -->)", re.S)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _arguments(sp: argparse.ArgumentParser) -> str:
    """`MODEL...`, `[PATH...]`, `--key KEY.pem`: the positionals and required options."""
    words = []
    for action in sp._actions:  # argparse offers no public list of a parser's arguments
        name = action.metavar or (action.dest.upper() if not action.option_strings else None)
        if action.option_strings and action.required:
            value = name or "\\|".join(action.choices or [action.dest.upper()])  # a pipe escaped in a table
            words.append(f"{action.option_strings[0]} {value}")
        elif not action.option_strings and action.nargs != argparse.PARSER:
            words.append({"+": f"{name}...", "*": f"[{name}...]", "?": f"[{name}]"}.get(action.nargs, name))
    return " ".join(words)


def commands_table() -> str:
    from xdl.commands import commands

    rows = [f"| `{' '.join(filter(None, ['xdl', name, _arguments(sp)]))}` | {sp.description} |"
            for name, sp in commands().items()]
    return "\n".join(["| command | what it does (`xdl COMMAND --help` for its options) |", "|---|---|", *rows])


def exit_codes_table() -> str:
    rows = [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


TABLES = {"commands": commands_table, "exit-codes": exit_codes_table}


def rendered(text: str, where: str = "") -> str:
    """The page with every generated table rendered afresh."""
    def fill(m: re.Match) -> str:
        if m["name"] not in TABLES:
            raise SystemExit(f"{where}: unknown generated table {m['name']!r} (known: {', '.join(TABLES)})")
        return f"{m[1]}{TABLES[m['name']]()}\n{m[4]}"

    return BLOCK.sub(fill, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m xdl.commands.docs", description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated tables")
    mode.add_argument("--check", action="store_true", help="exit 1 if a generated table is out of date")
    args = p.parse_args(argv)
    stale = []
    for page in pages():
        text = page.read_text()
        fresh = rendered(text, page.name)
        if fresh != text:
            stale.append(page.relative_to(ROOT))
            if args.write:
                page.write_text(fresh)
    if args.check and stale:
        print(f"out of date: {', '.join(map(str, stale))}; run python -m xdl.commands.docs --write", file=sys.stderr)
        return 1
    if args.write:
        print(f"rewrote {', '.join(map(str, stale))}" if stale else "every generated table was current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
