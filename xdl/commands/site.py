"""`xdl site`: the course as a static site, built from the lessons' executed notebooks and docs/."""

from __future__ import annotations

from pathlib import Path

from xdl.commands import common
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK

EXIT_CODES = {
    EXIT_OK: "the site was built (its pages, search, maths and models in the page all ship inside it)",
    EXIT_INPUT: "no xdl checkout here or above, no executed lessons (run `xdl tutorials`), --out not a "
                "folder or inside the sources, or Sphinx refused a page (its lines in the message)",
    EXIT_ENVIRONMENT: "Sphinx, myst-nb or Furo (pip install -e '.[site]') or web/node_modules (cd web && npm ci) "
                      "is missing",
}


def add_parser(sub) -> None:
    sp = common.command(sub, "site", "build the course site (lessons side by side, docs, search, models in the page)",
                        exit_codes=EXIT_CODES)
    sp.add_argument("--out", type=Path, default=Path("site"), help="the site's folder (default: site; replaced)")
    sp.add_argument("--notebooks", type=Path,
                    help="executed lessons to build from (default: the checkout's tutorials/notebooks)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl import artifacts
    from xdl.errors import InputError
    from xdl.teach import book

    book.require_tools()  # the environment first: a core install is told what to install
    root = book.repository()
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is not a folder: name a folder for the site")
    for inside in ("tutorials", "docs", "xdl", "exported_models", "web"):  # the out folder is replaced whole
        artifacts.overlap(args.out, "--out", {"the checkout's " + inside: root / inside})
    if args.out.resolve() in (root, *root.parents):
        raise InputError(f"--out {args.out} holds the checkout: the site's folder is replaced whole; choose another")
    page = book.build(args.out, root, args.notebooks)
    print(f"site built: {page} (open it, or serve it: python -m http.server -d {args.out})")
    return EXIT_OK
