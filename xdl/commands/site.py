"""`xdl site`: the course as a static site, built from the lessons' executed notebooks and docs/."""

from __future__ import annotations

import argparse
from pathlib import Path

from xdl.commands import common
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_OK

EXIT_CODES = {
    EXIT_OK: "the site was built (its pages, search, maths and models in the page all ship inside it)",
    EXIT_INPUT: "no xdl checkout here or above; no executed lessons (run `xdl tutorials`), or one that ran with "
                "an error; --out not a folder, overlapping the sources or --notebooks, or a folder `xdl site` did "
                "not build; Sphinx warned (a number the prose names missing, a broken link: the first in the "
                "message); the --serve port taken",
    EXIT_ENVIRONMENT: "Sphinx, myst-nb or Furo (pip install -e '.[site]') or web/node_modules (cd web && npm ci) "
                      "is missing",
    EXIT_INTERRUPTED: "Ctrl-C: how --serve ends; a build stopped before its end leaves the previous site as it was",
}


def add_parser(sub) -> None:
    sp = common.command(sub, "site", "build the course site (lessons side by side, docs, search, models in the page)",
                        exit_codes=EXIT_CODES)
    sp.add_argument("--out", type=Path, default=Path("site"), help="the site's folder (default: site; replaced)")
    sp.add_argument("--notebooks", type=Path,
                    help="executed lessons to build from (default: the checkout's tutorials/notebooks)")
    sp.add_argument("--serve", type=_port, nargs="?", const=8000, metavar="PORT",
                    help="then serve it on http://127.0.0.1:PORT (default 8000) until Ctrl-C")
    sp.set_defaults(func=run)


def _port(text: str) -> int:
    port = common.count(0)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535; 0 picks a free one)")
    return port


def run(args) -> int:
    from xdl import artifacts
    from xdl.errors import InputError
    from xdl.teach import book

    book.require_tools()  # the environment first: a core install is told what to install
    root = book.repository()
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is not a folder: name a folder for the site")
    # The site's folder is replaced whole: what it is built from must lie outside it (and it
    # outside them; holding the checkout too).
    sources = {f"the checkout's {name}": root / name for name in ("tutorials", "docs", "xdl", "exported_models", "web")}
    artifacts.overlap(args.out, "--out", {**sources, **({"--notebooks": args.notebooks} if args.notebooks else {})})
    page = book.build(args.out, root, args.notebooks)
    if args.serve is None:
        print(f"site built: {page} (open it, or serve it: xdl site --serve)")
        return EXIT_OK
    return serve(args.out, args.serve)


def make_server(folder: Path, port: int):
    """An HTTP server of `folder` on 127.0.0.1 (this machine only), not yet serving.

    Raises:
        InputError: the port is taken or not allowed.
    """
    import functools
    import http.server

    from xdl.errors import InputError

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InputError(f"cannot serve on port {port} ({exc.strerror}): pass --serve with another port") from None


def serve(folder: Path, port: int) -> int:
    """Serves `folder` until Ctrl-C."""
    server = make_server(folder, port)
    print(f"serving the site on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)", flush=True)
    with server:
        server.serve_forever()
    return EXIT_OK
