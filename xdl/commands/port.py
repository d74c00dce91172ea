"""`xdl port`: move trained weights from one twin to the other."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK, EXIT_PARITY, XdlError
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "port", "move trained weights from one twin to the other")
    sp.add_argument("model", metavar="MODEL")
    common.runs_option(sp)
    common.out_option(sp)
    sp.add_argument("--from", dest="source", choices=registry.FRAMEWORKS, required=True)
    sp.add_argument("--to", choices=registry.FRAMEWORKS, help="default: the other framework")
    sp.add_argument("--weights-file", help="source weights (default: the committed artifact's)")
    sp.add_argument("--output", help="where to write (default: RUNS/MODEL/TO/ported-from-FROM.*)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from xdl import twins

    if args.output == common.STDOUT:  # not a report: stdout is no place for a weights file
        raise XdlError(f"port --output {common.STDOUT}: the ported weights are a file; name a path")
    target = args.to or twins.other(args.source)
    if target == args.source:
        raise XdlError(f"--from and --to are both {target}; port between keras and torch")
    output, c = twins.port_to_file(args.model, args.source, target, args.output, out=args.out, runs=args.runs,
                                   weights=Path(args.weights_file) if args.weights_file else None)
    print(f"{args.model}: {args.source} -> {target} weights written to {output}")
    print(f"{target} vs {args.source} on the artifact's real test samples: max abs {c.max_abs:.1e}, "
          f"max rel {c.max_rel:.1e} (the spec's tolerance): {'OK' if c.ok else 'FAILED: ' + c.detail}")
    return EXIT_OK if c.ok else EXIT_PARITY
