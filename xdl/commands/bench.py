"""`xdl bench`: latency and throughput of Keras, PyTorch and ONNX Runtime side by side."""

from __future__ import annotations

from xdl import limits
from xdl.commands import common
from xdl.errors import EXIT_OK, XdlError
from xdl.spec import registry


def add_parser(sub) -> None:
    sp = common.command(sub, "bench", "latency and throughput: Keras, PyTorch and ONNX Runtime side by side")
    common.model_arguments(sp, nargs="*", help="model name(s), or 'all'")
    sp.add_argument("--all", action="store_true", help="every registered model")
    common.out_option(sp)
    sp.add_argument("--providers", default="cpu,cuda", help="ORT providers (default: cpu,cuda; CUDA uses I/O binding)")
    sp.add_argument("--batch-sizes", default="1,64", help="comma-separated (default: 1,64)")
    sp.add_argument("--reps", type=common.count(1), default=200, help="timed calls per path (default: 200)")
    sp.add_argument("--compile", action="store_true", help="also time torch.compile (compiles for minutes)")
    sp.add_argument("--quick", action="store_true", help="20 reps, no training or ORT-options sweep (CI)")
    common.output_options(sp, ("text", "json"), plot="a latency chart (also .svg, .pdf)", old=("--json", "--plot"))
    sp.add_argument("--max-memory", type=common.positive, metavar="GIB", help="refuse batch sizes whose tensors "
                    f"would need more (default: {limits.DEFAULT_MAX_MEMORY_GB:g}, or XDL_MAX_MEMORY_GB)")
    sp.set_defaults(func=run)


def run(args) -> int:
    from xdl.tools import bench

    models = registry.names() if args.all else common.models(args.model)
    if not models:
        raise XdlError("name the model(s) to benchmark, or pass --all")
    charts = [path for fmt, path in common.outputs(args) if fmt == "plot"]
    options = dict(batch_sizes=common.int_list(args.batch_sizes, "--batch-sizes"),
                   providers=common.names(args.providers), out=args.out)
    for chart in charts or [None]:
        bench.check_request(models, plot=chart, **options)
    if charts:
        from xdl.errors import require

        require("matplotlib", "plot")  # now, not after minutes of timing
    result = bench.run(models, reps=20 if args.quick else args.reps, torch_compile=args.compile,
                       training=not args.quick, sweep=not args.quick, **options)

    def draw(path):
        bench.plot(result, path)
        print(f"chart: {path}")

    common.emit(args, {"text": lambda: bench.render(result) + "\n", "json": lambda: common.json_text(result)},
                "the benchmark results", plot=draw)
    return EXIT_OK
