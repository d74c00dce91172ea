"""The `xdl` command: parse arguments, call the library, print, exit with a documented code.

Start-up imports only argparse and xdl's specs: `xdl --help` and `xdl list` never load
TensorFlow or PyTorch, and `xdl verify` loads only numpy, onnx and onnxruntime.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from xdl import __version__, limits
from xdl.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARITY,
    XdlError,
    first_failure,
    first_line,
)
from xdl.spec import registry

EXIT_CODES = """exit codes:
    0  something was compared and everything checked passed (a provider that could not run is
       reported as skipped)
    1  a parity check failed: outputs beyond tolerance or holding NaN/Inf, I/O names or shapes
       differ, training parity diverged, a stale artifact (export --check), a variant beyond its
       tolerance
    2  bad usage or input: unknown model or data set, missing or malformed data files, a corrupt,
       truncated, tampered, linked or unreadable artifact, a signature missing or failed under
       --public-key, external data, a variant the graph does not compute, a model run past
       --timeout or over --max-memory, a user's model that fails, nothing to check, an output
       path refused (a folder, a disk, a FIFO nobody reads, inside an artifact, overlapping
       what the command reads), a mistyped TF_CONFIG or torchrun environment
    3  environment: a framework, an optional extra or a --require'd provider missing, every
       provider skipped, a doctor problem, export --check under other library versions, a full
       or read-only disk
    4  a distributed run lost a worker (it died, or the others did not join in time); nothing
       was published
  130  interrupted (Ctrl-C); finished artifacts stay intact
set XDL_DEBUG=1 (or pass --debug before the command) to see the traceback of an error"""


def _count(minimum: int):
    """An argparse type: an integer >= minimum (so `--epochs 0` is refused, not read as "default")."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below the smallest allowed, {minimum}")
        return value
    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0 (a learning rate, seconds, GiB)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0")
    return value


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


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(n) for n in text.split(",") if n.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise XdlError(f"--batch-sizes takes comma-separated integers, got {text!r}")
    return sizes


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


def cmd_tutorials(args) -> int:
    from xdl import artifacts
    from xdl.teach import render

    chosen = render.find(args.dir, args.names)
    artifacts.overlap(args.html, "--html", {"--dir": args.dir})  # the pages would land among the tutorials
    failed = []
    for tutorial, line, ok in render.render_each(chosen, args.html):
        print(line, flush=True)
        if not ok:
            failed.append(tutorial.stem)
    print(f"{len(chosen) - len(failed)} of {len(chosen)} tutorials ran; HTML in {args.html}/index.html")
    if failed:
        print(f"xdl: error: tutorials failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_PARITY
    return EXIT_OK


def cmd_differences(args) -> int:
    from xdl.backends import differences

    print(differences.markdown())
    return EXIT_OK


def cmd_train(args) -> int:
    from xdl import distributed, training

    nodes = None
    if args.nodes is not None or args.node_rank is not None or args.rendezvous is not None:
        if args.nodes is None or args.node_rank is None or args.rendezvous is None:
            raise XdlError("--nodes, --node-rank and --rendezvous go together (docs/distributed.md)")
        nodes = distributed.Nodes(args.nodes, args.node_rank, args.rendezvous)
    for model in _models(args.model):
        for framework in _frameworks(args.framework):
            training.check_runs(args.runs, model, framework)  # before a distributed run starts, too
            options = dict(epochs=args.epochs, dataset=args.dataset, data_dir=args.data_dir, quick=args.quick,
                           runs=args.runs)
            if args.workers or nodes or distributed.started_by_engine(framework):
                m = distributed.train(model, framework, workers=args.workers, nodes=nodes, **options)
                if m is None or distributed.reports_to_launcher():  # rank 0, or the launcher, reports the run
                    continue
            else:
                m = training.train(model, framework, **options)
            spec = registry.get(model)
            print(f"{model}/{framework}: test {spec.metric} {m[training.metric_key(spec)]:.4f} on {m['dataset']} "
                  f"after {m['epochs_run']} epochs ({m['train_seconds']:.1f} s) -> "
                  f"{training.run_dir(args.runs, model, framework)}")
    return EXIT_OK


def cmd_export(args) -> int:
    from xdl import artifacts, exporting
    from xdl.exporting import policy, variants

    if (args.route or args.no_optimise) and (args.check or args.variant or args.refresh):
        raise XdlError("--route and --no-optimise apply to a fresh export; --check, --refresh and --variant "
                       "read the committed artifacts, whose manifests say how they were made")
    if args.sign and args.check:
        raise XdlError("--sign signs what export writes; --check writes nothing (sign artifacts with `xdl sign`)")
    signer = _signer(args.sign)
    if args.refresh:
        from xdl.exporting import staleness

        roots = [f"{args.out}/{m}" for m in _models(args.model)] if args.model else [args.out]
        for folder in artifacts.find(roots):
            if "variant" not in artifacts.read_manifest(folder):
                signed = _signed_suffix(folder, signer)
                print(f"{folder}: refreshed -> {staleness.refresh(folder, sign=signer)}{signed}")
        return EXIT_OK
    if args.check:
        return _export_check(args)
    if not args.model:
        raise XdlError("name the model(s) to export, or 'all' (or pass --check)")
    if args.variant:
        codes = []
        for model in _models(args.model):
            for framework in _frameworks(args.framework):
                folder, s = variants.export_variant(model, framework, args.variant, out=args.out, data_dir=args.data_dir,
                                                    sign=signer)
                verdict = f"written to {folder}" if folder else f"NOT written: {s['detail']}"
                print(f"{model}/{framework}-{args.variant}: max abs {s['max_abs']:.1e} vs atol {s['tolerance']['atol']:g} "
                      f"({'within' if s['within_tolerance'] else 'beyond'} tolerance); test accuracy "
                      f"{s['test_accuracy_fp32']:.4f} -> {s['test_accuracy']:.4f} ({s['accuracy_change'] * 100:+.1f} points); "
                      f"ORT CPU speed-up x{s['speedup_b1']:.2f} at batch 1, x{s['speedup_b64']:.2f} at 64; "
                      f"{s['bytes'] // 1024} KiB vs {s['bytes_fp32'] // 1024} KiB; {verdict}")
                codes.append(EXIT_OK if folder else EXIT_PARITY)
        return first_failure(codes)
    for model in _models(args.model):
        for framework in _frameworks(args.framework):
            signed = _signed_suffix(f"{args.out}/{model}/{framework}", signer)
            folder = exporting.export(model, framework, runs=args.runs, out=args.out, data_dir=args.data_dir,
                                      route=args.route, optimised=not args.no_optimise, sign=signer)
            print(f"{model}/{framework}: exported -> {folder}{signed}")
            check = artifacts.read_manifest(folder).get("policy_check")
            if check:  # an agent's deployment check (xdl/exporting/policy.py); a failed one raised
                print(f"  {policy.summary(check)}")
    return EXIT_OK


def _export_check(args) -> int:
    """`xdl export --check`: each artifact re-exported from its weights and compared."""
    from xdl.errors import EXIT_ENVIRONMENT
    from xdl.exporting import staleness
    from xdl.report import clean

    roots = [f"{args.out}/{m}" for m in _models(args.model)] if args.model else [args.out]
    codes = []
    for folder, result in staleness.compare_paths(roots):
        # names come from the disk and the manifest: escaped, so none can forge a line
        if isinstance(result, XdlError):
            print(f"{clean(folder)}: error: {clean(result)}")
        else:
            print(f"{clean(result.label)}: {result.status}" + "".join(f"\n  {clean(p)}" for p in result.problems))
        codes.append(result.exit_code)
    code = first_failure(codes)
    if code == EXIT_ENVIRONMENT:  # the one line a script reads: what to install
        print(f"xdl: error: {codes.count(code)} artifact(s) cannot be checked with the libraries installed "
              f"here: {staleness.INSTALL_HINT}", file=sys.stderr)
    return code


def cmd_verify(args) -> int:
    from xdl import verify

    providers, required = _providers(args.providers), _providers(args.require)
    batch_sizes = _batch_sizes(args.batch_sizes)
    signatures = _signature_verifier(args.public_key)
    result = verify.verify_paths(args.paths or [args.out], providers, required, batch_sizes, signatures)
    if args.fuzz and not args.live:
        raise XdlError("--fuzz needs --live MODEL: fuzzed inputs have no stored outputs to compare with")
    for model in _models(args.live) if args.live else []:
        from xdl.parity import live

        # --live loads the native weights too: with a key, only from artifacts whose signature passes
        refused = _unsigned(signatures, [f"{args.out}/{model}/{fw}" for fw in registry.FRAMEWORKS])
        result.checks += refused or live.verify_live(model, out=args.out, providers=providers, required=required,
                                                     batch_sizes=batch_sizes, fuzz=args.fuzz)
    _emit(result, args.report, args.output)
    return result.exit_code


def _signer(key):
    """An xdl.signing.Signer for --sign KEY, or None; a missing extra or a bad key fails here,
    before anything is exported."""
    if not key:
        return None
    from xdl import signing

    return signing.Signer(key)


def _signed_suffix(folder, signer) -> str:
    """What an export line adds: " (signed)", or a note when it replaces a signed artifact
    without --sign (the old signature goes with the old files)."""
    from xdl import signing

    if signer:
        return " (signed)"
    if signing.is_signed(folder):
        return f"\n  note: the artifact it replaces was signed; this one is not (sign it: xdl sign {folder} --key KEY)"
    return ""


def _signature_verifier(public_key):
    if not public_key:
        return None
    from xdl import signing

    return signing.Verifier(public_key)


def _unsigned(signatures, folders) -> list:
    """An error check per folder whose signature fails (none without a key)."""
    from xdl.verify import Check

    refused = []
    for folder in folders if signatures else []:
        try:
            signatures.check(folder)
        except XdlError as exc:
            refused.append(Check(*folder.split("/")[-2:], provider="-", status="error", detail=str(exc),
                                 exit_code=exc.exit_code))
    return refused


def cmd_sign(args) -> int:
    from xdl import signing

    for folder, signature in signing.sign_paths(args.paths, args.key):
        print(f"{folder}: signed -> {signature}")
    return EXIT_OK


def _emit(result, fmt: str, output: str | None) -> None:
    """Prints the text report; writes (or prints) the requested format too."""
    from xdl import report

    text = report.FORMATS[fmt](result)
    if output:
        path = _write_text(output, text, "the report")
        print(report.render(result))
        print(f"{fmt} report: {path}")
    else:
        print(text, end="")


def cmd_check(args) -> int:
    import numpy as np

    from xdl.parity import users

    shapes = [_shape(s) for s in args.input_shape]  # bad arguments fail before any import
    limits.check_bytes(sum(4.0 * np.prod(s, dtype=np.float64) for s in shapes), "--input-shape")
    model = users.load_factory(args.factory)
    inputs = users.random_inputs(shapes, args.seed)
    result = users.check(model, inputs, providers=_providers(args.providers), required=_providers(args.require),
                         kind=args.kind, raise_on_failure=False)
    _emit(result, args.report, args.output)
    return result.exit_code


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise XdlError(f"--input-shape takes positive comma-separated integers, batch first, got {text!r}")
    return shape


def cmd_bench(args) -> int:
    from xdl.tools import bench

    models = registry.names() if args.all else _models(args.model)
    if not models:
        raise XdlError("name the model(s) to benchmark, or pass --all")
    reps = 20 if args.quick else args.reps
    bench.check_request(models, batch_sizes=_batch_sizes(args.batch_sizes), providers=_providers(args.providers),
                        out=args.out, plot=args.plot)
    if args.plot:
        from xdl.errors import require

        require("matplotlib", "plot")  # now, not after minutes of timing
    result = bench.run(models, batch_sizes=_batch_sizes(args.batch_sizes), providers=_providers(args.providers),
                       reps=reps, out=args.out, torch_compile=args.compile, training=not args.quick,
                       sweep=not args.quick)
    print(bench.render(result))
    if args.json:
        _write_json(args.json, result, "the benchmark results")
        print(f"json: {args.json}")
    if args.plot:
        bench.plot(result, args.plot)
        print(f"chart: {args.plot}")
    return EXIT_OK


def cmd_routes(args) -> int:
    from xdl.tools import routes

    opsets = (routes.SHIPPED_OPSET,) if args.quick else _opsets(args.opsets)
    result = routes.run(_models(args.model), opsets=opsets, reps=20 if args.quick else args.reps, out=args.out,
                        progress=lambda model: print(f"routes: {model}...", file=sys.stderr, flush=True))
    text = routes.render(result)
    print(text)
    if args.json:
        _write_json(args.json, result, "the route comparison")
        print(f"json: {args.json}")
    if args.markdown:
        _write_text(args.markdown, text + "\n", "the route comparison")
        print(f"markdown: {args.markdown}")
    return routes.exit_code(result)


def cmd_scaling(args) -> int:
    from xdl.tools import scaling

    result = scaling.run(_models(args.model), _frameworks(args.framework), scaling.parse_workers(args.workers),
                         args.epochs, progress=lambda what: print(f"scaling: {what}...", file=sys.stderr, flush=True))
    text = scaling.render(result)
    print(text)
    if args.json:
        _write_json(args.json, result, "the scaling results")
    if args.markdown:
        _write_text(args.markdown, text + "\n", "the scaling results")
    return scaling.exit_code(result)


def _opsets(text: str) -> tuple[int, ...]:
    try:
        opsets = tuple(int(n) for n in text.split(","))
    except ValueError:
        opsets = ()
    if not opsets or any(not 7 <= n <= 30 for n in opsets):
        raise XdlError(f"--opsets takes comma-separated ONNX opsets (e.g. 17,18,21), got {text!r}")
    return opsets


def cmd_doctor(args) -> int:
    from xdl.tools import doctor

    text, code = doctor.run()
    print(text)
    return code


def cmd_all(args) -> int:
    from xdl import exporting, pipeline, report, training

    models = _models(args.model) if args.model else None
    for model in models or registry.names():  # every run and artifact folder, before the first is trained
        for framework in registry.FRAMEWORKS:
            training.check_runs(args.runs, model, framework)
            exporting.check_out(registry.get(model), framework, args.runs, args.out)
    rows, result = pipeline.run_all(models, quick=args.quick, epochs=args.epochs,
                                    providers=_providers(args.providers), required=_providers(args.require),
                                    runs=args.runs, out=args.out)
    print(report.render(result))
    print()
    stages = ("set-up", "train", "export", "verify")
    print(report.table(
        ["model", "framework", "data set", "test metric", "export", "ORT-CPU", "ORT-CUDA", "max abs err",
         *(f"{s} s" for s in stages)],
        [[r.model, r.framework, r.dataset or "-", "-" if r.test_metric is None else f"{r.metric} {r.test_metric:.4f}",
          r.export, r.cpu, r.cuda, "-" if r.max_abs is None else f"{r.max_abs:.1e}",
          *(f"{r.seconds[s]:.0f}" if s in r.seconds else "-" for s in stages)] for r in rows],
    ))
    total = sum(sum(r.seconds.values()) for r in rows)
    print(f"wall time: {total:.0f} s in all (" + ", ".join(
        f"{s} {sum(r.seconds.get(s, 0) for r in rows):.0f} s" for s in stages) + ")")
    for g in pipeline.gaps(rows):
        print(f"{g.model}: test {g.metric} keras {g.keras:.4f} vs torch {g.torch:.4f}, gap {g.gap:.4f} "
              f"({'within' if g.within else 'BEYOND'} the stated margin {g.margin:g})")
    for r in rows:
        if r.error:
            print(f"{r.model}/{r.framework}: {r.error}", file=sys.stderr)
    return result.exit_code


def cmd_port(args) -> int:
    from pathlib import Path

    from xdl.port import twins

    target = args.to or twins.other(args.source)
    if target == args.source:
        raise XdlError(f"--from and --to are both {target}; port between keras and torch")
    output, c = twins.port_to_file(args.model, args.source, target, args.output, out=args.out, runs=args.runs,
                                   weights=Path(args.weights_file) if args.weights_file else None)
    print(f"{args.model}: {args.source} -> {target} weights written to {output}")
    print(f"{target} vs {args.source} on the artifact's real test samples: max abs {c.max_abs:.1e}, "
          f"max rel {c.max_rel:.1e} (the spec's tolerance): {'OK' if c.ok else 'FAILED: ' + c.detail}")
    return EXIT_OK if c.ok else EXIT_PARITY


def _write_text(path, text: str, what: str):
    """artifacts.write_text: never into an artifact, never replacing a device, FIFO or link; a
    failure is one line (a full disk exit 3)."""
    from xdl.artifacts import write_text

    return write_text(path, text, what)


def _check_outputs(args) -> None:
    """Refuses an output option that the write would refuse (inside an artifact, a folder...)
    before the command's work, not after it."""
    named = {f"--{name}": getattr(args, name, None) for name in ("output", "json", "markdown", "plot")}
    named = {flag: path for flag, path in named.items() if path}
    if named:
        from xdl import artifacts

        for flag, path in named.items():
            artifacts.check_output(path, f"the {flag[2:]} file")


def _write_json(path, obj, what: str) -> None:
    import json

    _write_text(path, json.dumps(obj, indent=2) + "\n", what)


def cmd_parity(args) -> int:
    from pathlib import Path

    from xdl.parity import matrix, steps

    code, results = EXIT_OK, {}
    for model in _models(args.model):
        if args.train_steps:
            r = steps.compare(model, args.train_steps, optimizer=args.optimizer, lr=args.lr)
            print(steps.render(r))
            results[model] = r.to_json()
        else:
            m = matrix.build(model, args.weights, providers=_providers(args.providers), out=args.out)
            print(matrix.render(m))
            results[model] = m.to_json()
            if args.plot:
                path = Path(args.plot)
                if len(args.model) > 1 or args.model == ["all"]:
                    path = path.with_name(f"{path.stem}-{model}{path.suffix}")
                matrix.plot(m, path)
                print(f"heat map: {path}")
            r = m
        code = max(code, r.exit_code)
        print()
    if args.json:
        _write_json(args.json, results, "the parity results")
    return code


def cmd_diff(args) -> int:
    from xdl.parity import layers
    from xdl.port import twins

    code = EXIT_OK
    for model in _models(args.model):
        spec, nets, x = twins.shared_twins(model, args.weights, out=args.out)
        diffs = layers.compare(spec, nets["keras"], nets["torch"], x)
        print(layers.render(model, diffs))
        if layers.first_divergence(diffs):
            code = EXIT_PARITY
    return code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xdl",
        description="Reference models twin-defined in Keras 3 and PyTorch, exported to ONNX and "
        "verified against ONNX Runtime.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"xdl {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (or set XDL_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, summary):
        return sub.add_parser(name, help=summary, epilog=EXIT_CODES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    def providers(sp, default="cpu,cuda"):
        sp.add_argument("--providers", default=default,
                        help=f"comma-separated from cpu, cuda, cuda-tf32 (default: {default})")
        sp.add_argument("--require", default="", help="providers that must run, e.g. cuda (else exit 3)")

    def report_options(sp):
        sp.add_argument("--report", choices=("text", "json", "md", "junit"), default="text",
                        help="report format (default: text)")
        sp.add_argument("--output", help="write the report here (the text summary still goes to stdout)")

    def bounds(sp):
        sp.add_argument("--timeout", type=_positive, metavar="SECONDS",
                        help=f"time ONNX Runtime may spend on one artifact, all its runs together (default: "
                        f"{limits.DEFAULT_RUN_TIMEOUT:g}, or XDL_RUN_TIMEOUT; at most a week); past it, exit 2")
        sp.add_argument("--max-memory", type=_positive, metavar="GIB",
                        help=f"memory ONNX Runtime and the sizes you ask for may take (default: "
                        f"{limits.DEFAULT_MAX_MEMORY_GB:g}, or XDL_MAX_MEMORY_GB)")

    def common(sp, models=True):
        if models:
            sp.add_argument("model", nargs="+", metavar="MODEL", help="model name(s), or 'all'")
        sp.add_argument("--runs", default="runs", help="where trained weights go (default: runs)")
        sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")
        sp.add_argument("--data-dir", help="folder holding a real data set's files (default: ~/.keras/datasets)")

    sub.add_parser("list", help="the registered models and data sets").set_defaults(func=cmd_list)
    command("doctor", "versions, ONNX Runtime's providers and limits, known-bad combinations").set_defaults(func=cmd_doctor)
    command("differences", "the Keras/PyTorch differences that matter, read from the installed libraries"
            ).set_defaults(func=cmd_differences)
    sp = command("tutorials", "run the tutorials and render them as HTML, figures embedded")
    sp.add_argument("names", nargs="*", metavar="NAME", help="only these (a number like 03, or part of the name)")
    sp.add_argument("--dir", default="tutorials", help="where the tutorials are (default: tutorials)")
    sp.add_argument("--html", default="site/tutorials", help="output folder (default: site/tutorials)")
    sp.set_defaults(func=cmd_tutorials)

    sp = command("train", "train a model's Keras and/or PyTorch twin")
    common(sp)
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    sp.add_argument("--epochs", type=_count(1), help="override the spec's number of epochs")
    sp.add_argument("--dataset", help="train on another of the model's data sets (e.g. mnist)")
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.add_argument("--workers", type=_count(1), metavar="N",
                    help="train on N workers, each on its shard with batch B/N: torch = N processes by torchrun "
                    "(DDP), keras = N devices by MirroredStrategy; with --nodes, per machine (docs/distributed.md)")
    sp.add_argument("--nodes", type=_count(2), metavar="M", help="torch on M machines: this is one of them")
    sp.add_argument("--node-rank", type=_count(0), metavar="R", help="with --nodes: this machine's rank, 0 serving "
                    "the rendezvous")
    sp.add_argument("--rendezvous", metavar="HOST:PORT", help="with --nodes: node 0's address and a free port")
    sp.set_defaults(func=cmd_train)

    sp = command("export", "export trained twins to ONNX artifacts")
    common(sp, models=False)
    sp.add_argument("model", nargs="*", metavar="MODEL", help="model name(s), or 'all'")
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    sp.add_argument("--variant", choices=("fp16", "int8", "int8-static"),
                    help="make a deployment variant of the committed float32 artifact (written only if "
                    "within its tolerance)")
    sp.add_argument("--route", help="export by another route than the shipped one: keras-export or "
                    "keras-on-torch (Keras), torchscript (PyTorch); docs/routes.md compares them")
    sp.add_argument("--no-optimise", action="store_true", help="keep the exporter's graph as it is (by "
                    "default xdl's exact rewrites are applied where the result verifies; docs/routes.md)")
    sp.add_argument("--refresh", action="store_true",
                    help="re-export the committed float32 artifacts from their own weights and provenance "
                    "with the current code, in place (no training; re-make variants with --variant)")
    sp.add_argument("--check", action="store_true",
                    help="re-export the committed artifacts from their own weights into a temporary "
                    "folder and fail (exit 1) if they differ: stale artifacts")
    sp.add_argument("--sign", metavar="KEY.pem", help="sign each artifact folder written with this private key "
                    "(PEM, elliptic curve; writes model.sig inside it; needs xdl[sign]; docs/verdict.md)")
    bounds(sp)
    sp.set_defaults(func=cmd_export)

    sp = command("sign", "sign existing artifact folders (model.sig, OpenSSF model-signing; needs xdl[sign])")
    sp.add_argument("paths", nargs="+", metavar="PATH", help="artifact folders or roots")
    sp.add_argument("--key", required=True, metavar="KEY.pem", help="private key (PEM, elliptic curve, unencrypted)")
    sp.set_defaults(func=cmd_sign)

    sp = command("verify", "check artifacts against ONNX Runtime (core dependencies only)")
    sp.add_argument("paths", nargs="*", metavar="PATH", help="artifact folders or roots (default: --out)")
    sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")
    providers(sp)
    sp.add_argument("--live", nargs="+", metavar="MODEL",
                    help="also re-run the native twins on fresh inputs at batch sizes 1, 2, 7, 64")
    sp.add_argument("--batch-sizes", default="1,2,7,64",
                    help="batch sizes to run, cut from the stored test samples (default: 1,2,7,64)")
    sp.add_argument("--fuzz", type=_count(0), default=0, metavar="N",
                    help="with --live: also N random inputs from the declared domain plus its edge values")
    sp.add_argument("--public-key", metavar="KEY.pub", help="require every artifact to carry a signature by this "
                    "key (model.sig), checked before anything else is read; unsigned fails (exit 2; needs xdl[sign])")
    report_options(sp)
    bounds(sp)
    sp.set_defaults(func=cmd_verify)

    sp = command("port", "move trained weights from one twin to the other")
    common(sp, models=False)
    sp.add_argument("model", metavar="MODEL")
    sp.add_argument("--from", dest="source", choices=registry.FRAMEWORKS, required=True)
    sp.add_argument("--to", choices=registry.FRAMEWORKS, help="default: the other framework")
    sp.add_argument("--weights-file", help="source weights (default: the committed artifact's)")
    sp.add_argument("--output", help="where to write (default: RUNS/MODEL/TO/ported-from-FROM.*)")
    sp.set_defaults(func=cmd_port)

    sp = command("parity", "the parity matrix of one set of weights, or training parity")
    common(sp)
    sp.add_argument("--weights", choices=registry.FRAMEWORKS, default="keras",
                    help="whose trained weights to use; the other twin gets them ported (default: keras)")
    sp.add_argument("--providers", default="cpu,cuda", help="ORT providers for the exports (default: cpu,cuda)")
    sp.add_argument("--json", help="also write the results as JSON here")
    sp.add_argument("--plot", help="also write the matrix as a heat-map PNG here")
    sp.add_argument("--train-steps", type=_count(1), metavar="K",
                    help="instead: train both twins K steps from the same weights and compare losses")
    sp.add_argument("--optimizer", choices=("sgd", "spec"), default="sgd",
                    help="with --train-steps: plain SGD, or the model's own optimizer (default: sgd)")
    sp.add_argument("--lr", type=_positive, default=0.01, help="with --train-steps: learning rate (default: 0.01)")
    sp.set_defaults(func=cmd_parity)

    sp = command("diff", "compare the twins layer by layer; name where they part")
    common(sp)
    sp.add_argument("--weights", choices=registry.FRAMEWORKS, default="keras",
                    help="whose trained weights to use (default: keras)")
    sp.set_defaults(func=cmd_diff)

    sp = command("check", "export your own model and check ONNX Runtime against it")
    sp.add_argument("factory", metavar="MODULE:FACTORY",
                    help="a function returning a torch.nn.Module or keras.Model, e.g. mypkg.nets:build")
    sp.add_argument("--input-shape", action="append", required=True, metavar="N,D1,...",
                    help="an input's shape, batch first, in the model's own layout; repeat for more inputs")
    sp.add_argument("--kind", default="logits", choices=("probabilities", "logits", "regression", "reconstruction"),
                    help="what the outputs are; picks the tolerance (default: logits)")
    providers(sp)
    sp.add_argument("--seed", type=_count(0), default=0, help="seed of the random inputs (uniform in [0, 1))")
    report_options(sp)
    bounds(sp)
    sp.set_defaults(func=cmd_check)

    sp = command("bench", "latency and throughput: Keras, PyTorch and ONNX Runtime side by side")
    sp.add_argument("model", nargs="*", metavar="MODEL")
    sp.add_argument("--all", action="store_true", help="every registered model")
    sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")
    sp.add_argument("--providers", default="cpu,cuda", help="ORT providers (default: cpu,cuda; CUDA uses I/O binding)")
    sp.add_argument("--batch-sizes", default="1,64", help="comma-separated (default: 1,64)")
    sp.add_argument("--reps", type=_count(1), default=200, help="timed calls per path (default: 200)")
    sp.add_argument("--compile", action="store_true", help="also time torch.compile (compiles for minutes)")
    sp.add_argument("--quick", action="store_true", help="20 reps, no training or ORT-options sweep (CI)")
    sp.add_argument("--json", help="write the results as JSON here")
    sp.add_argument("--plot", help="write a latency chart (PNG) here")
    sp.add_argument("--max-memory", type=_positive, metavar="GIB", help="refuse batch sizes whose tensors would "
                    f"need more (default: {limits.DEFAULT_MAX_MEMORY_GB:g}, or XDL_MAX_MEMORY_GB)")
    sp.set_defaults(func=cmd_bench)

    sp = command("routes", "every route to ONNX (tf2onnx, Keras export, dynamo, TorchScript...) compared")
    sp.add_argument("model", nargs="+", metavar="MODEL", help="model name(s), or 'all'")
    sp.add_argument("--out", default="exported_models", help="artifact root whose weights are exported "
                    "(default: exported_models)")
    sp.add_argument("--opsets", default="17,18,19,20,21", help="opsets to try per route (default: 17,18,19,20,21)")
    sp.add_argument("--reps", type=_count(1), default=200, help="timed calls per latency, at most (default: 200)")
    sp.add_argument("--quick", action="store_true", help="the shipped opset only, 20 reps")
    sp.add_argument("--json", help="write the results as JSON here")
    sp.add_argument("--markdown", help="write the tables as Markdown here")
    sp.set_defaults(func=cmd_routes)

    sp = command("scaling", "training throughput on 1 and N workers (distributed training, docs/distributed.md)")
    sp.add_argument("model", nargs="+", metavar="MODEL", help="model name(s), or 'all'")
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")
    sp.add_argument("--workers", default="1,2", help="worker counts to compare (default: 1,2)")
    sp.add_argument("--epochs", type=_count(1), default=3, help="epochs per run (default: 3)")
    sp.add_argument("--json", help="write the results as JSON here")
    sp.add_argument("--markdown", help="write the table as Markdown here")
    sp.set_defaults(func=cmd_scaling)

    sp = command("all", "train, export and verify every model in both frameworks")
    common(sp, models=False)
    sp.add_argument("model", nargs="*", metavar="MODEL", help="limit to these models")
    sp.add_argument("--quick", action="store_true", help="a small subset and one epoch (CI)")
    sp.add_argument("--epochs", type=_count(1), help="override every spec's number of epochs")
    providers(sp)
    bounds(sp)
    sp.set_defaults(func=cmd_all)
    return p


def main(argv: list[str] | None = None) -> int:
    """Runs one command. The single error boundary: every failure becomes one line on stderr and
    a documented exit code; XDL_DEBUG=1 (or --debug) adds the traceback."""
    debug = os.environ.get("XDL_DEBUG", "") not in ("", "0")
    try:
        limits.catch_interrupts()  # first: a Ctrl-C inside a library's import must not break the library
        args = parser().parse_args(argv)
        debug = debug or args.debug
        if getattr(args, "timeout", None) or getattr(args, "max_memory", None):
            limits.current().set(run_timeout=getattr(args, "timeout", None),
                                 max_memory_gb=getattr(args, "max_memory", None))
        _check_outputs(args)
        code = args.func(args)
        limits.release_interrupts()  # raises a Ctrl-C held during the last import
        return code
    except BrokenPipeError:  # `xdl ... | head`: the reader left; not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:  # noqa: BLE001 - the boundary: nothing reaches the user as a traceback
        if _caused_by_ctrl_c(exc):  # a library that wrapped it (pybind11: "ImportError: initialization failed")
            return _interrupted()
        message, code = explain(exc)
        if debug:
            traceback.print_exc()
        if not _reported_to_launcher(code, message):
            print(f"xdl: error: {message}", file=sys.stderr)
        return code
    finally:
        limits.release_interrupts(raise_held=False)


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _interrupted() -> int:
    if not _reported_to_launcher(EXIT_INTERRUPTED, "interrupted"):
        print("xdl: interrupted; finished artifacts are intact, the one in progress was not written",
              file=sys.stderr)
    if limits.interrupted_run():
        # Every write is atomic and already rolled back; what is left is ORT's native
        # threads, which interpreter teardown would destroy under themselves (see limits).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    return EXIT_INTERRUPTED


def _reported_to_launcher(code: int, message: str) -> bool:
    """In a worker that xdl started (through torchrun, or for a TF_CONFIG cluster): hands the error
    to the launcher, which says it once, in one line, for all its workers."""
    if not os.environ.get("XDL_WORKER_ERRORS"):
        return False
    from xdl import distributed

    return distributed.report_error(code, message)


def explain(exc: BaseException) -> tuple[str, int]:
    """(one line saying what went wrong and what to do, the documented exit code) for any error."""
    import errno

    from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, missing_extra
    from xdl.report import clean

    # an optional package a code path imported without require(): still the extra to install
    exc = missing_extra(exc) or exc
    if isinstance(exc, XdlError):
        return clean(exc), exc.exit_code
    if isinstance(exc, MemoryError):
        return ("out of memory; ask for smaller sizes (--batch-sizes, --fuzz, --input-shape) or lower "
                "--max-memory so that the guard stops it first", EXIT_ENVIRONMENT)
    if isinstance(exc, OSError):
        where = f" ({clean(exc.filename)})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"the disk is full{where}; free space or write elsewhere (--out, --runs, --output)", EXIT_ENVIRONMENT
        if exc.errno == errno.EROFS:
            return f"read-only file system{where}; write elsewhere (--out, --runs, --output)", EXIT_ENVIRONMENT
        return f"{clean(exc.strerror or exc)}{where}; check the path and its permissions", EXIT_INPUT
    if isinstance(exc, RecursionError):
        return "the input is nested too deeply to read; it is not something xdl wrote", EXIT_INPUT
    return (f"unexpected {type(exc).__name__}: {clean(first_line(exc, 300))} (if the input is good, this is a bug in xdl: "
            f"run again with XDL_DEBUG=1 and report the traceback)", EXIT_INPUT)


if __name__ == "__main__":
    sys.exit(main())
