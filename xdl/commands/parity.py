"""`xdl parity`: the parity matrix of one set of weights (Keras, PyTorch and both ONNX exports
against each other); `xdl parity steps`: training parity, K steps from the same weights.
The old spelling `parity --train-steps K` works for one release."""

from __future__ import annotations

import argparse
from pathlib import Path

from xdl.commands import common
from xdl.errors import EXIT_OK, XdlError
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "parity", "the parity matrix of one set of weights: Keras, PyTorch and both ONNX "
                        "exports against each other", description="The parity matrix of one set of weights. "
                        "Training parity: xdl parity steps.")
    common.model_arguments(sp)
    # None where not given: the old --train-steps refuses what it does not read (defaults: in run)
    sp.add_argument("--out", help="artifact root (default: exported_models)")
    sp.add_argument("--weights", choices=registry.FRAMEWORKS,
                    help="whose trained weights to use; the other twin gets them ported (default: keras)")
    sp.add_argument("--providers", help="ORT providers for the exports (default: cpu,cuda)")
    common.output_options(sp, ("text", "json"), plot="the heat map (one per model: NAME-MODEL.png)",
                          old=("--json", "--plot"))
    common.old_option(sp, "--train-steps", "xdl parity steps MODEL... --steps K", type=common.count(1), default=None)
    # read with --train-steps only, whose note names `parity steps`, where they are options of their own
    sp.add_argument("--optimizer", choices=("sgd", "spec"), default=None, help=argparse.SUPPRESS)
    sp.add_argument("--lr", type=common.positive, default=None, help=argparse.SUPPRESS)
    sp.set_defaults(func=run)

    sp = common.command(sub, "parity steps", "training parity: train both twins K steps from the same weights on "
                        "the same batches and compare the losses and the final weights")
    common.model_arguments(sp)
    sp.add_argument("--steps", type=common.count(1), required=True, metavar="K", help="training steps")
    sp.add_argument("--optimizer", choices=("sgd", "spec"), default="sgd",
                    help="plain SGD, or the model's own optimizer (default: sgd)")
    sp.add_argument("--lr", type=common.positive, default=0.01, help="learning rate (default: 0.01)")
    common.output_options(sp, ("text", "json"))
    sp.set_defaults(func=steps)


def run(args) -> int:
    """The matrix of each model: printed as it comes, a heat map per chart output."""
    charts = [Path(path) for fmt, path in common.outputs(args) if fmt == "plot"]
    if args.train_steps:
        unread = [flag for flag, value in (("--out", args.out), ("--weights", args.weights),
                                           ("--providers", args.providers)) if value is not None]
        unread += [f"--output {path}" for path in charts]
        if unread:
            raise XdlError(f"parity --train-steps does not read {', '.join(unread)}: it trains both twins from "
                           f"the same new weights, runs no export and draws no chart; drop {'it' if len(unread) == 1 else 'them'}")
        args.steps = args.train_steps
        args.optimizer, args.lr = args.optimizer or "sgd", args.lr or 0.01  # parity steps' defaults
        return steps(args)
    given = [flag for flag, value in (("--optimizer", args.optimizer), ("--lr", args.lr)) if value is not None]
    if given:
        raise XdlError(f"the parity matrix trains nothing, so it does not read {' or '.join(given)}: training parity "
                       f"is `xdl parity steps MODEL --steps K {given[0]} ...`")
    from xdl.parity import matrix

    code, texts, results = EXIT_OK, [], {}
    for model in common.models(args.model):
        m = matrix.build(model, args.weights or "keras", providers=common.names(args.providers or "cpu,cuda"),
                         out=args.out or "exported_models")
        texts.append(_show(args, matrix.render(m)))
        results[model] = m.to_json()
        for path in charts:
            if len(args.model) > 1 or args.model == ["all"]:
                path = path.with_name(f"{path.stem}-{model}{path.suffix}")
            matrix.plot(m, path)
            print(f"heat map: {path}")
        code = max(code, m.exit_code)
    _report(args, texts, results)
    return code


def steps(args) -> int:
    """`xdl parity steps`: each model's losses step by step, exit 1 where the twins part."""
    from xdl.parity import steps as training_parity

    code, texts, results = EXIT_OK, [], {}
    for model in common.models(args.model):
        r = training_parity.compare(model, args.steps, optimizer=args.optimizer, lr=args.lr)
        texts.append(_show(args, training_parity.render(r)))
        results[model] = r.to_json()
        code = max(code, r.exit_code)
    _report(args, texts, results)
    return code


def _show(args, text: str) -> str:
    if common.printed(args) == "text":  # as it comes: a model takes a while
        print(text + "\n")
    return text + "\n\n"


def _report(args, texts, results) -> None:
    common.emit(args, {"text": lambda: "".join(texts), "json": lambda: common.json_text(results)},
                "the parity results", plot=lambda path: None, streamed=common.printed(args) == "text")
