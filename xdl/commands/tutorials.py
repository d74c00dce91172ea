"""`xdl tutorials`: run the tutorials and render them as HTML."""

from __future__ import annotations

import sys

from xdl.commands import common
from xdl.errors import EXIT_OK, EXIT_PARITY


def add_parser(sub) -> None:
    sp = common.command(sub, "tutorials", "run the tutorials and render them as HTML, figures embedded")
    sp.add_argument("names", nargs="*", metavar="NAME", help="only these (a number like 03, or part of the name)")
    sp.add_argument("--dir", default="tutorials", help="where the tutorials are (default: tutorials)")
    sp.add_argument("--html", default="site/tutorials", help="output folder (default: site/tutorials)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl import artifacts
    from xdl.teach import render

    chosen = render.find(args.dir, args.names)
    artifacts.overlap(args.html, "--html", {"--dir": args.dir})  # the pages would land among the tutorials
    failed = []
    for tutorial, line, ok in render.render_each(chosen, args.html):
        print(line, flush=True)
        if not ok:
            failed.append(tutorial.stem)
    print(f"{len(chosen) - len(failed)} of {len(chosen)} tutorials ran; HTML in {args.html}/index.html")
    if failed:
        print(f"xdl: error: tutorials failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_PARITY
    return EXIT_OK
