"""`xdl all`: train, export and verify every model in both frameworks, then the table."""

from __future__ import annotations

import sys

from xdl.commands import common
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "all", "train, export and verify every model in both frameworks")
    common.model_arguments(sp, nargs="*", help="limit to these models")
    common.runs_option(sp)
    common.out_option(sp)
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.add_argument("--epochs", type=common.count(1), help="override every spec's number of epochs")
    common.provider_options(sp)
    common.bound_options(sp)
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl import exporting, pipeline, report, training

    models = common.models(args.model) if args.model else None
    for model in models or registry.names():  # every run and artifact folder, before the first is trained
        for framework in registry.FRAMEWORKS:
            training.check_runs(args.runs, model, framework)
            exporting.check_out(registry.get(model), framework, args.runs, args.out)
    rows, result = pipeline.run_all(models, quick=args.quick, epochs=args.epochs,
                                    providers=common.names(args.providers), required=common.names(args.require),
                                    runs=args.runs, out=args.out)
    print(report.render(result))
    print()
    print(pipeline.render(rows))
    for r in rows:
        if r.error:
            print(f"{r.model}/{r.framework}: {r.error}", file=sys.stderr)
    return result.exit_code
