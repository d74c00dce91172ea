"""`xdl sign`: sign existing artifact folders."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK


def add_parser(sub) -> None:
    sp = common.command(sub, "sign", "sign existing artifact folders (model.sig, OpenSSF model-signing; needs xdl[sign])")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="artifact folders or roots")
    sp.add_argument("--key", required=True, metavar="KEY.pem", help="private key (PEM, elliptic curve, unencrypted)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl import signing

    for folder, signature in signing.sign_paths(args.paths, args.key):
        print(f"{folder}: signed -> {signature}")
    return EXIT_OK
