"""`xdl diff`: compare the twins layer by layer and name where they part."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import EXIT_OK, EXIT_PARITY
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "diff", "compare the twins layer by layer; name where they part")
    common.model_arguments(sp)
    common.out_option(sp)
    sp.add_argument("--weights", choices=registry.FRAMEWORKS, default="keras",
                    help="whose trained weights to use (default: keras)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.parity import layers
    from xdl import twins

    code = EXIT_OK
    for model in common.models(args.model):
        spec, nets, x = twins.shared_twins(model, args.weights, out=args.out)
        diffs = layers.compare(spec, nets["keras"], nets["torch"], x)
        print(layers.render(model, diffs))
        if layers.first_divergence(diffs):
            code = EXIT_PARITY
    return code
