"""`xdl check`: export your own model and check ONNX Runtime against it."""

from __future__ import annotations

from xdl import limits
from xdl.commands import common, verify


def add_parser(sub) -> None:
    sp = common.command(sub, "check", "export your own model and check ONNX Runtime against it")
    sp.add_argument("factory", metavar="MODULE:FACTORY",
                    help="a function returning a torch.nn.Module or keras.Model, e.g. mypkg.nets:build")
    sp.add_argument("--input-shape", action="append", required=True, metavar="N,D1,...",
                    help="an input's shape, batch first, in the model's own layout; repeat for more inputs")
    sp.add_argument("--kind", default="logits", choices=("probabilities", "logits", "regression", "reconstruction"),
                    help="what the outputs are; picks the tolerance (default: logits)")
    common.provider_options(sp)
    sp.add_argument("--seed", type=common.count(0), default=0, help="seed of the random inputs (uniform in [0, 1))")
    common.output_options(sp, verify.FORMATS, old=("--report",))
    common.bound_options(sp)
    sp.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from xdl.parity import users

    # bad arguments fail before any import
    shapes = [common.int_list(s, "--input-shape", what="positive comma-separated integers, batch first") for s in args.input_shape]
    limits.check_bytes(sum(4.0 * np.prod(s, dtype=np.float64) for s in shapes), "--input-shape")
    model = users.load_factory(args.factory)
    inputs = users.random_inputs(shapes, args.seed)
    result = users.check(model, inputs, providers=common.names(args.providers), required=common.names(args.require),
                         kind=args.kind, raise_on_failure=False)
    verify.emit_report(args, result)
    return result.exit_code
