"""The `xdl` command: parse arguments, call the library, print, exit with a documented code.

Start-up imports only argparse and xdl's specs: `xdl --help` and `xdl list` never load
TensorFlow or PyTorch, and `xdl verify` loads only numpy, onnx and onnxruntime.
"""

from __future__ import annotations

import argparse
import sys

from xdl import __version__, registry
from xdl.errors import EXIT_INTERRUPTED, EXIT_OK, XdlError

EXIT_CODES = """exit codes:
  0  everything checked passed
  1  a parity check failed
  2  bad usage or input (unknown model, missing data set, corrupt or tampered artifact)
  3  environment (a required framework or execution provider is missing)
  130  interrupted (Ctrl-C); finished artifacts stay intact"""


def _models(names: list[str]) -> list[str]:
    if names == ["all"]:
        return registry.names()
    for name in names:
        registry.get(name)  # unknown names fail here, listing the known ones
    return names


def _frameworks(choice: str) -> tuple[str, ...]:
    return registry.FRAMEWORKS if choice == "both" else (choice,)


def _providers(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def cmd_list(args) -> int:
    from xdl import data
    from xdl.report import table

    rows = []
    for name in registry.names():
        spec = registry.get(name)
        inputs = ", ".join(f"{t.name} {list(t.shape)} {t.dtype} {t.layout}".strip() for t in spec.inputs)
        rows.append([name, spec.task, inputs, spec.dataset, f"{spec.param_count:,}", spec.summary])
    print(table(["model", "task", "inputs (ONNX contract)", "data set", "params", "architecture"], rows))
    print("\ndata sets: " + "; ".join(f"{n} ({data.describe(n)})" for n in data.names()))
    return EXIT_OK


def cmd_train(args) -> int:
    from xdl import pipeline

    for model in _models(args.model):
        for framework in _frameworks(args.framework):
            m = pipeline.train(model, framework, epochs=args.epochs, dataset=args.dataset,
                               data_dir=args.data_dir, quick=args.quick, runs=args.runs)
            print(f"{model}/{framework}: test accuracy {m['test_accuracy']:.4f} on {m['dataset']} "
                  f"after {m['epochs_run']} epochs ({m['train_seconds']:.1f} s) -> "
                  f"{pipeline.run_dir(args.runs, model, framework)}")
    return EXIT_OK


def cmd_export(args) -> int:
    from xdl import pipeline

    for model in _models(args.model):
        for framework in _frameworks(args.framework):
            folder = pipeline.export(model, framework, runs=args.runs, out=args.out, data_dir=args.data_dir)
            print(f"{model}/{framework}: exported -> {folder}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from xdl import report, verify

    providers, required = _providers(args.providers), _providers(args.require)
    result = verify.verify_paths(args.paths or [args.out], providers, required)
    for model in _models(args.live) if args.live else []:
        from xdl import pipeline

        result.checks += pipeline.verify_live(model, out=args.out, providers=providers, required=required)
    print(report.render(result))
    return result.exit_code


def cmd_all(args) -> int:
    from xdl import pipeline, report

    models = _models(args.model) if args.model else None
    rows, result = pipeline.run_all(models, quick=args.quick, epochs=args.epochs,
                                    providers=_providers(args.providers), required=_providers(args.require),
                                    runs=args.runs, out=args.out)
    print(report.render(result))
    print()
    print(report.table(
        ["model", "framework", "data set", "test acc", "export", "ORT-CPU", "ORT-CUDA", "max abs err"],
        [[r.model, r.framework, r.dataset or "-", "-" if r.test_accuracy is None else f"{r.test_accuracy:.4f}",
          r.export, r.cpu, r.cuda, "-" if r.max_abs is None else f"{r.max_abs:.1e}"] for r in rows],
    ))
    for model in dict.fromkeys(r.model for r in rows):
        acc = {r.framework: r.test_accuracy for r in rows if r.model == model and r.test_accuracy is not None}
        if len(acc) == 2:
            gap = abs(acc["keras"] - acc["torch"]) * 100
            print(f"{model}: keras {acc['keras']:.4f} vs torch {acc['torch']:.4f}, gap {gap:.1f} points")
    for r in rows:
        if r.error:
            print(f"{r.model}/{r.framework}: {r.error}", file=sys.stderr)
    return result.exit_code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xdl",
        description="Reference models twin-defined in Keras 3 and PyTorch, exported to ONNX and "
        "verified against ONNX Runtime.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"xdl {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(sp, models=True):
        if models:
            sp.add_argument("model", nargs="+", metavar="MODEL", help="model name(s), or 'all'")
        sp.add_argument("--runs", default="runs", help="where trained weights go (default: runs)")
        sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")
        sp.add_argument("--data-dir", help="folder holding a real data set's files (default: ~/.keras/datasets)")

    sub.add_parser("list", help="the registered models and data sets").set_defaults(func=cmd_list)

    sp = sub.add_parser("train", help="train a model's Keras and/or PyTorch twin", epilog=EXIT_CODES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    common(sp)
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    sp.add_argument("--epochs", type=int, help="override the spec's number of epochs")
    sp.add_argument("--dataset", help="train on another of the model's data sets (e.g. mnist)")
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("export", help="export trained twins to ONNX artifacts", epilog=EXIT_CODES,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    common(sp)
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    sp.set_defaults(func=cmd_export)

    sp = sub.add_parser("verify", help="check artifacts against ONNX Runtime (core dependencies only)",
                        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("paths", nargs="*", metavar="PATH", help="artifact folders or roots (default: --out)")
    sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")
    sp.add_argument("--providers", default="cpu,cuda", help="comma-separated: cpu,cuda (default: both)")
    sp.add_argument("--require", default="", help="providers that must run, e.g. cuda (else exit 3)")
    sp.add_argument("--live", nargs="+", metavar="MODEL",
                    help="also re-run the native twins on fresh inputs at batch sizes 1, 2, 7, 64")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("all", help="train, export and verify every model in both frameworks",
                        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    common(sp, models=False)
    sp.add_argument("model", nargs="*", metavar="MODEL", help="limit to these models")
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.add_argument("--epochs", type=int, help="override every spec's number of epochs")
    sp.add_argument("--providers", default="cpu,cuda", help="comma-separated: cpu,cuda (default: both)")
    sp.add_argument("--require", default="", help="providers that must run, e.g. cuda (else exit 3)")
    sp.set_defaults(func=cmd_all)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except XdlError as exc:
        print(f"xdl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("xdl: interrupted; finished artifacts are intact, the one in progress was not written",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
