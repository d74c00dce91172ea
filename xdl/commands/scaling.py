"""`xdl scaling`: training throughput on 1 and N workers (docs/distributed.md)."""

from __future__ import annotations

import sys

from xdl.commands import common


def add_parser(sub) -> None:
    sp = common.command(sub, "scaling", "training throughput on 1 and N workers (distributed training, "
                        "docs/distributed.md)")
    common.model_arguments(sp)
    common.framework_option(sp)
    sp.add_argument("--workers", default="1,2", help="worker counts to compare (default: 1,2)")
    sp.add_argument("--epochs", type=common.count(1), default=3, help="epochs per run (default: 3)")
    common.output_options(sp, old=("--json", "--markdown"))
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.tools import scaling

    workers = common.int_list(args.workers, "--workers", what="comma-separated worker counts (e.g. 1,2)")
    result = scaling.run(common.models(args.model), common.frameworks(args.framework), workers, args.epochs,
                         progress=lambda what: print(f"scaling: {what}...", file=sys.stderr, flush=True))
    text = scaling.render(result) + "\n"
    common.emit(args, {"text": lambda: text, "markdown": lambda: text, "json": lambda: common.json_text(result)},
                "the scaling results")
    return scaling.exit_code(result)
