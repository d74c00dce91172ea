"""`xdl export`: trained twins to ONNX artifacts; and its modes on committed artifacts,
`xdl export check` (stale?), `xdl export refresh` (re-export in place) and `xdl export variant`
(fp16 / int8). The old spellings `export --check|--refresh|--variant` work for one release."""

from __future__ import annotations

import sys

from xdl.commands import common
from xdl.errors import EXIT_ENVIRONMENT, EXIT_OK, EXIT_PARITY, XdlError, first_failure

VARIANTS = ("fp16", "int8", "int8-static")


def add_parser(sub) -> None:
    sp = common.command(sub, "export", "export trained twins to ONNX artifacts", description=(
        "Export trained twins to ONNX artifacts. On committed artifacts: xdl export check (are they stale?), "
        "xdl export refresh (re-export them in place), xdl export variant (fp16, int8)."))
    common.model_arguments(sp, nargs="*")
    common.runs_option(sp)
    common.out_option(sp)
    common.data_dir_option(sp)
    common.framework_option(sp)
    sp.add_argument("--route", help="export by another route than the shipped one: keras-export or "
                    "keras-on-torch (Keras), torchscript (PyTorch); docs/routes.md compares them")
    sp.add_argument("--no-optimise", action="store_true", help="keep the exporter's graph as it is (by "
                    "default xdl's exact rewrites are applied where the result verifies; docs/routes.md)")
    _sign_option(sp)
    common.bound_options(sp)
    common.old_flag(sp, "--check", "xdl export check [MODEL...]")
    common.old_flag(sp, "--refresh", "xdl export refresh [MODEL...]")
    common.old_option(sp, "--variant", "xdl export variant KIND MODEL...", choices=VARIANTS, default=None)
    sp.set_defaults(func=run)

    sp = common.command(sub, "export check", "re-export the committed artifacts from their own weights into a "
                        "temporary folder and fail (exit 1) if they differ: stale artifacts")
    common.model_arguments(sp, nargs="*", help="only these models' artifacts, or 'all' (default: all under --out)")
    common.out_option(sp)
    common.bound_options(sp)
    sp.set_defaults(func=check)

    sp = common.command(sub, "export refresh", "re-export the committed float32 artifacts from their own weights "
                        "and provenance with the current code, in place (no training)")
    common.model_arguments(sp, nargs="*", help="only these models' artifacts, or 'all' (default: all under --out)")
    common.out_option(sp)
    _sign_option(sp)
    common.bound_options(sp)
    sp.set_defaults(func=refresh)

    sp = common.command(sub, "export variant", "make a deployment variant (fp16, int8) of the committed float32 "
                        "artifact, written only if within its tolerance")
    sp.add_argument("variant", choices=VARIANTS, metavar="KIND", help=f"one of {', '.join(VARIANTS)}")
    common.model_arguments(sp)
    common.out_option(sp)
    common.data_dir_option(sp)
    common.framework_option(sp)
    _sign_option(sp)
    common.bound_options(sp)
    sp.set_defaults(func=variant)


def _sign_option(sp) -> None:
    sp.add_argument("--sign", metavar="KEY.pem", help="sign each artifact folder written with this private key "
                    "(PEM, elliptic curve; writes model.sig inside it; needs xdl[sign]; docs/verdict.md)")


def run(args) -> int:
    if args.check or args.refresh or args.variant:
        return _old_mode(args)
    if not args.model:
        raise XdlError("name the model(s) to export, or 'all' (or run `xdl export check`)")
    from xdl import artifacts, exporting
    from xdl.exporting import policy

    signer = _signer(args.sign)
    for model in common.models(args.model):
        for framework in common.frameworks(args.framework):
            signed = _signed_suffix(f"{args.out}/{model}/{framework}", signer)
            folder = exporting.export(model, framework, runs=args.runs, out=args.out, data_dir=args.data_dir,
                                      route=args.route, optimised=not args.no_optimise, sign=signer)
            print(f"{model}/{framework}: exported -> {folder}{signed}")
            check = artifacts.read_manifest(folder).policy_check
            if check:  # an agent's deployment check (xdl/exporting/policy.py); a failed one raised
                print(f"  {policy.summary(check)}")
    return EXIT_OK


def _old_mode(args) -> int:
    """`export --check|--refresh|--variant`, as before the modes were subcommands."""
    if args.route or args.no_optimise:
        raise XdlError("--route and --no-optimise apply to a fresh export; --check, --refresh and --variant "
                       "read the committed artifacts, whose manifests say how they were made")
    if args.sign and args.check:
        raise XdlError("--sign signs what export writes; --check writes nothing (sign artifacts with `xdl sign`)")
    if args.refresh:
        return refresh(args)
    if args.check:
        return check(args)
    if not args.model:
        raise XdlError("name the model(s) to export, or 'all' (or pass --check)")
    return variant(args)


def _roots(args) -> list[str]:
    return [f"{args.out}/{m}" for m in common.models(args.model)] if args.model else [args.out]


def refresh(args) -> int:
    """`xdl export refresh`: each float32 artifact re-exported in place from its weights."""
    from xdl import artifacts
    from xdl.exporting import staleness

    signer = _signer(args.sign)
    for folder in artifacts.find(_roots(args)):
        if artifacts.read_manifest(folder).variant is None:
            signed = _signed_suffix(folder, signer)
            print(f"{folder}: refreshed -> {staleness.refresh(folder, sign=signer)}{signed}")
    return EXIT_OK


def check(args) -> int:
    """`xdl export check`: each artifact re-exported from its weights and compared."""
    from xdl.exporting import staleness
    from xdl.report import clean

    codes = []
    for folder, result in staleness.compare_paths(_roots(args)):
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


def variant(args) -> int:
    """`xdl export variant KIND MODEL...`: written only if within its tolerance (else exit 1)."""
    from xdl.exporting import variants

    signer = _signer(args.sign)
    codes = []
    for model in common.models(args.model):
        for framework in common.frameworks(args.framework):
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
