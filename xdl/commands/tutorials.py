"""`xdl tutorials`: run the lessons as notebooks (the site's pages are these runs)."""

from __future__ import annotations

import sys
from pathlib import Path

from xdl.commands import common
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARITY

EXIT_CODES = {
    EXIT_OK: "every chosen tutorial ran to its end",
    EXIT_PARITY: "a tutorial failed: a cell raised (its notebook is still written, the error in that cell)",
    EXIT_INPUT: "no xdl checkout here or above, no tutorial in --dir or none matches a NAME, or --out is not a folder",
    EXIT_ENVIRONMENT: "jupytext, nbclient, ipykernel or a framework is not installed (named in the message)",
    EXIT_INTERRUPTED: "Ctrl-C: the notebooks already written stay whole, the one running is not written",
}


def add_parser(sub) -> None:
    sp = common.command(sub, "tutorials", "run the tutorials as notebooks (full runs, the site's pages)",
                        exit_codes=EXIT_CODES)
    sp.add_argument("names", nargs="*", metavar="NAME", help="only these (a number like 03, or part of the name)")
    sp.add_argument("--dir", type=Path, help="where the tutorials are (default: the checkout's tutorials/)")
    sp.add_argument("--out", type=Path,
                    help="where the executed notebooks go (default: tutorials/notebooks, which `xdl site` reads)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.errors import InputError
    from xdl.teach import book, render

    folder = args.dir or book.repository() / "tutorials"
    out = args.out or folder / "notebooks"
    chosen = render.find(folder, args.names)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is not a folder: name a folder for the notebooks")
    failed = []
    for tutorial, line, ok in render.render_each(chosen, out):
        print(line, flush=True)
        if not ok:
            failed.append(tutorial.stem)
    print(f"{len(chosen) - len(failed)} of {len(chosen)} tutorials ran; notebooks in {out}; "
          "`xdl site` makes the site from them")
    if failed:
        print(f"xdl: error: tutorials failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_PARITY
    return EXIT_OK
