"""`xdl twin`: your Keras model and your PyTorch rewrite of it, proven one network or not."""

from __future__ import annotations

import os

from xdl.commands import check, common
from xdl.spec import tolerance

FORMATS = ("text", "json")


def add_parser(sub) -> None:
    sp = common.command(sub, "twin", "port your Keras model's weights into your PyTorch model (or back) and "
                        "compare them layer by layer: one network, or where they part and why")
    sp.add_argument("keras", metavar="KERAS_MODULE:FACTORY", help="a function returning the keras.Model")
    sp.add_argument("torch", metavar="TORCH_MODULE:FACTORY", help="a function returning the torch.nn.Module")
    check.input_options(sp, floats="[-1, 1)")
    sp.add_argument("--torch-layout", choices=("auto", "channels-first", "same"), default="auto",
                    help="how the PyTorch model takes images and sequences: auto (channels first where its first "
                         "convolution reads the input's channels), channels-first, or same (as Keras: a model that "
                         "permutes inside)")
    sp.add_argument("--from", dest="source", choices=("keras", "torch"), default="keras",
                    help="whose weights are ported into the other (default: keras); the other's are replaced")
    sp.add_argument("--port-table", metavar="MODULE[:TABLE]",
                    help="a list of xdl.port.engine.Rule (the format of xdl/models/*/port.py; default name TABLE) "
                         "pairing the layers xdl cannot pair by itself; the rest are paired by call order")
    sp.add_argument("--kind", default="logits", choices=tolerance.OUTPUT_KINDS,
                    help="what the outputs are; picks the tolerance (default: logits)")
    sp.add_argument("--export", action="store_true",
                    help="also export both to ONNX (as xdl check does) and run each file on ONNX Runtime against both "
                         "frameworks' outputs")
    common.provider_options(sp, default="cpu")
    sp.add_argument("--train-steps", type=common.count(0), default=0, metavar="K",
                    help="also train both K plain-SGD steps on the inputs (dropout off, mean squared error to one "
                         "seeded target) and compare the loss at every step")
    sp.add_argument("--lr", type=common.positive, default=0.01, help="the learning rate of --train-steps (default 0.01)")
    sp.add_argument("--seed", type=common.count(0), default=0, help="seed of the random inputs")
    common.output_options(sp, FORMATS)
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.parity import twin, users

    # signed: a function that is the identity on values >= 0 (a ReLU on the input) must show
    inputs = check.example(args, users, floats=(-1.0, 1.0))  # bad arguments fail before the models are loaded
    debug = args.debug or os.environ.get("XDL_DEBUG", "") not in ("", "0")
    table = twin.load_table(args.port_table) if args.port_table else ()
    keras_model, torch_model = users.load_factory(args.keras, debug), users.load_factory(args.torch, debug)
    result = twin.twin(keras_model, torch_model, inputs, source=args.source, port_table=table, kind=args.kind,
                       export=args.export, providers=common.names(args.providers), required=common.names(args.require),
                       train_steps=args.train_steps, lr=args.lr, torch_layout=args.torch_layout)
    common.emit(args, {"text": lambda: result.render() + "\n", "json": lambda: result.to_json() + "\n"}, "the report")
    return result.exit_code
