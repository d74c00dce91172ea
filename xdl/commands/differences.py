"""`xdl differences`: the Keras/PyTorch differences that matter, read from the installed libraries."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK


def add_parser(sub) -> None:
    common.command(sub, "differences", "the Keras/PyTorch differences that matter, read from the installed "
                   "libraries").set_defaults(func=run)


def run(args) -> int:
    from xdl.backends import differences

    print(differences.markdown())
    return EXIT_OK
