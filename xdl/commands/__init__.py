"""The `xdl` commands, one module per verb: each adds its parser (`add_parser(sub)`) and runs
it (`run(args)`), parsing and printing only; the work is the library's. A mode of a command is
a subcommand of its own (`xdl export check`, `xdl parity steps`), registered by the command's
module under its two-word name; xdl.cli routes `xdl export check ...` to it.

Nothing here imports more than argparse and xdl's specs at import time.
"""

from __future__ import annotations

import argparse

from xdl import __version__
from xdl.commands import (
    all as all_,
    bench,
    check,
    common,
    diff,
    differences,
    doctor,
    export,
    list as list_,
    parity,
    port,
    routes,
    scaling,
    sign,
    site,
    train,
    tutorials,
    twin,
    verify,
)

# in the order `xdl --help` lists them: looking around, the course's flow, tools, everything
MODULES = (list_, doctor, differences, tutorials, site, train, export, sign, verify, port, parity, diff, check, twin, bench,
           routes, scaling, all_)


def parser() -> argparse.ArgumentParser:
    """The whole command line: the top-level options and every command's parser."""
    p = argparse.ArgumentParser(
        prog="xdl",
        description="Reference models twin-defined in Keras 3 and PyTorch, exported to ONNX and "
        "verified against ONNX Runtime.",
        epilog=common.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"xdl {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (or set XDL_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in MODULES:
        module.add_parser(sub)
    return p


def commands(p: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Every command's name (modes as `export check`) -> its parser, in --help's order."""
    p = p or parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))  # argparse keeps no public handle
    return dict(sub.choices)


def route(argv: list[str], p: argparse.ArgumentParser) -> list[str]:
    """`export check ...` -> `"export check" ...` when that is a command's name: a mode is
    parsed by its own parser, and `xdl export MODEL...` stays the export itself. An unknown
    command is refused here (exit 2), listing the commands one types: argparse would list the
    modes' two-word names among them."""
    names = commands(p)
    for i, word in enumerate(argv):
        if not word.startswith("-"):  # the command: the top level has no option taking a value
            if i + 1 < len(argv) and f"{word} {argv[i + 1]}" in names:
                return [*argv[:i], f"{word} {argv[i + 1]}", *argv[i + 2:]]
            if word not in names:
                typed = ", ".join(repr(name) for name in names if " " not in name)
                p.error(f"argument COMMAND: invalid choice: {word!r} (choose from {typed})")
            return argv
    return argv
