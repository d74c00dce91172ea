"""`xdl routes`: every route to ONNX (tf2onnx, Keras export, dynamo, TorchScript...) compared."""

from __future__ import annotations

import sys

from xdl.commands import common


def add_parser(sub) -> None:
    sp = common.command(sub, "routes", "every route to ONNX (tf2onnx, Keras export, dynamo, TorchScript...) compared")
    common.model_arguments(sp)
    sp.add_argument("--out", default="exported_models", help="artifact root whose weights are exported "
                    "(default: exported_models)")
    sp.add_argument("--opsets", default="17,18,19,20,21", help="opsets to try per route (default: 17,18,19,20,21)")
    sp.add_argument("--reps", type=common.count(1), default=200, help="timed calls per latency, at most (default: 200)")
    sp.add_argument("--quick", action="store_true", help="the shipped opset only, 20 reps")
    common.output_options(sp, old=("--json", "--markdown"))
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.tools import routes

    opsets = (routes.SHIPPED_OPSET,) if args.quick else common.int_list(
        args.opsets, "--opsets", what="comma-separated ONNX opsets (e.g. 17,18,21)", minimum=7, maximum=30)
    result = routes.run(common.models(args.model), opsets=opsets, reps=20 if args.quick else args.reps, out=args.out,
                        progress=lambda model: print(f"routes: {model}...", file=sys.stderr, flush=True))
    text = routes.render(result) + "\n"  # Markdown already
    common.emit(args, {"text": lambda: text, "markdown": lambda: text, "json": lambda: common.json_text(result)},
                "the route comparison")
    return routes.exit_code(result)
