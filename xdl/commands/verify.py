"""`xdl verify`: check artifacts against ONNX Runtime (core dependencies only)."""

from __future__ import annotations

from xdl.commands import common
from xdl.errors import XdlError
from xdl.spec import registry

FORMATS = ("text", "json", "markdown", "junit")


def add_parser(sub) -> None:
    sp = common.command(sub, "verify", "check artifacts against ONNX Runtime (core dependencies only)")
    sp.add_argument("paths", nargs="*", metavar="PATH", help="artifact folders or roots (default: --out)")
    common.out_option(sp)
    common.provider_options(sp)
    sp.add_argument("--live", nargs="+", metavar="MODEL",
                    help="also re-run the native twins on fresh inputs at batch sizes 1, 2, 7, 64")
    sp.add_argument("--batch-sizes",
                    help="batch sizes to run, cut from the stored test samples (default: 1,2,7,64; for a model saved "
                         "by `xdl check --save`: 1 and the batch it was checked on, as check ran it)")
    sp.add_argument("--fuzz", type=common.count(0), default=0, metavar="N",
                    help="with --live: also N random inputs from the declared domain plus its edge values")
    sp.add_argument("--public-key", metavar="KEY.pub", help="require every artifact to carry a signature by this "
                    "key (model.sig), checked before anything else is read; unsigned fails (exit 2; needs xdl[sign])")
    common.output_options(sp, FORMATS, old=("--report",))
    common.bound_options(sp)
    sp.set_defaults(func=run)


def run(args) -> int:
    if args.fuzz and not args.live:  # before any artifact is run: a mistake in the command line
        raise XdlError("--fuzz needs --live MODEL: fuzzed inputs have no stored outputs to compare with")
    from xdl import verify

    providers, required = common.names(args.providers), common.names(args.require)
    batch_sizes = common.int_list(args.batch_sizes, "--batch-sizes") if args.batch_sizes else None
    signatures = _signature_verifier(args.public_key)
    result = verify.verify_paths(args.paths or [args.out], providers, required, batch_sizes, signatures)
    for model in common.models(args.live) if args.live else []:
        from xdl.parity import live

        # --live loads the native weights too: with a key, only from artifacts whose signature passes
        refused = _unsigned(signatures, [f"{args.out}/{model}/{fw}" for fw in registry.FRAMEWORKS])
        result.checks += refused or live.verify_live(model, out=args.out, providers=providers, required=required,
                                                     batch_sizes=batch_sizes or live.LIVE_BATCH_SIZES, fuzz=args.fuzz)
    emit_report(args, result)
    return result.exit_code


def emit_report(args, result) -> None:
    """A verify.Report in --format, to stdout and each --output (check prints its reports so too)."""
    from xdl import report

    formats = {fmt: report.FORMATS["md" if fmt == "markdown" else fmt] for fmt in FORMATS}
    common.emit(args, {fmt: (lambda f=f: f(result)) for fmt, f in formats.items()}, "the report")


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
