"""What the commands share: argument types, the option groups several commands take, the one
output convention (--format, --output) and the deprecated spellings kept for one release.

Only argparse and xdl's specs at import time: `xdl --help` loads no framework, not even numpy.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from xdl import limits
from xdl.errors import XdlError, exit_codes_text
from xdl.spec import registry

EPILOG = exit_codes_text() + "\nset XDL_DEBUG=1 (or pass --debug before the command) to see the traceback of an error"
PLOT_SUFFIXES = (".png", ".svg", ".pdf")  # an --output with one of these is the chart of a command that draws one


def command(sub, name: str, summary: str, description: str | None = None,
            exit_codes: dict[int, str] | None = None) -> argparse.ArgumentParser:
    """A subcommand's parser, with the exit codes in its --help: xdl's, or the command's own where
    its codes mean something narrower (`exit_codes`)."""
    epilog = EPILOG if exit_codes is None else exit_codes_text(codes=exit_codes) + EPILOG[EPILOG.index("\nset "):]
    return sub.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:],
                          epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


# --- argument types --------------------------------------------------------------------------

def count(minimum: int):
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


def positive(text: str) -> float:
    """An argparse type: a finite number > 0 (a learning rate, seconds, GiB)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number above 0")
    return value


def int_list(text: str, flag: str, *, what: str = "comma-separated integers", minimum: int = 1,
             maximum: int | None = None) -> tuple[int, ...]:
    """`1,2,7` -> (1, 2, 7): the one parser of comma-separated integers (--batch-sizes,
    --input-shape, --opsets, --workers). An empty item (`1,,2`, `1,`), a word or a number out of
    [minimum, maximum] is refused, naming the flag: XdlError, exit 2."""
    items = text.split(",")
    if any(not item.strip() for item in items):
        raise XdlError(f"{flag} takes {what}, got {text!r}, which has an empty item")
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        raise XdlError(f"{flag} takes {what}, got {text!r}") from None
    if any(v < minimum or (maximum is not None and v > maximum) for v in values):
        raise XdlError(f"{flag} takes {what}, got {text!r}")
    return values


def names(text: str) -> tuple[str, ...]:
    """`cpu, cuda` -> ("cpu", "cuda"); empty items are dropped (`--require ""` names none)."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def models(chosen: list[str]) -> list[str]:
    """Model names as given, or every registered model for `all`; an unknown name fails here,
    listing the known ones."""
    if chosen == ["all"]:
        return registry.names()
    for name in chosen:
        registry.get(name)
    return chosen


def frameworks(choice: str) -> tuple[str, ...]:
    return registry.FRAMEWORKS if choice == "both" else (choice,)


# --- option groups ---------------------------------------------------------------------------

def model_arguments(sp, nargs="+", help="model name(s), or 'all'") -> None:
    sp.add_argument("model", nargs=nargs, metavar="MODEL", help=help)


def out_option(sp) -> None:
    sp.add_argument("--out", default="exported_models", help="artifact root (default: exported_models)")


def runs_option(sp) -> None:
    sp.add_argument("--runs", default="runs", help="where trained weights go (default: runs)")


def data_dir_option(sp) -> None:
    sp.add_argument("--data-dir", help="folder holding a real data set's files (default: ~/.keras/datasets)")


def framework_option(sp) -> None:
    sp.add_argument("--framework", choices=("keras", "torch", "both"), default="both")


def provider_options(sp, default="cpu,cuda") -> None:
    sp.add_argument("--providers", default=default, help=f"comma-separated from cpu, cuda, cuda-tf32 (default: {default})")
    sp.add_argument("--require", default="", help="providers that must run, e.g. cuda (else exit 3)")


def bound_options(sp) -> None:
    sp.add_argument("--timeout", type=positive, metavar="SECONDS",
                    help=f"time ONNX Runtime may spend on one artifact, all its runs together (default: "
                    f"{limits.DEFAULT_RUN_TIMEOUT:g}, or XDL_RUN_TIMEOUT; at most a week); past it, exit 2")
    sp.add_argument("--max-memory", type=positive, metavar="GIB",
                    help=f"memory ONNX Runtime and the sizes you ask for may take (default: "
                    f"{limits.DEFAULT_MAX_MEMORY_GB:g}, or XDL_MAX_MEMORY_GB)")


# --- deprecated spellings --------------------------------------------------------------------

def deprecated(old: str, new: str) -> None:
    """The one line an old spelling prints on stderr; it still does what it did."""
    print(f"xdl: note: {old} is deprecated and goes in the next release; use {new}", file=sys.stderr)


class _Deprecated(argparse.Action):
    """A hidden option kept for one release: stores like `store` and says what replaces it."""

    def __init__(self, *args, new: str, **kwargs):
        self.new = new
        super().__init__(*args, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        deprecated(option_string, self.new)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def old_option(sp, flag: str, new: str, **kwargs) -> None:
    """`flag` accepted, hidden from --help, with a note naming `new`."""
    sp.add_argument(flag, action=_Deprecated, new=new, **kwargs)


def old_flag(sp, flag: str, new: str) -> None:
    old_option(sp, flag, new, nargs=0, default=False)


class _OldOutput(argparse.Action):
    """--json/--markdown/--plot PATH: an --output of a fixed format."""

    def __init__(self, *args, fmt: str, **kwargs):
        self.fmt = fmt
        super().__init__(*args, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        new = "--output PATH" if self.fmt == "plot" else f"--format {self.fmt} --output PATH"
        deprecated(f"{option_string} PATH", new)
        namespace.fixed_outputs = [*(getattr(namespace, "fixed_outputs", None) or []), (self.fmt, values)]


class _OldReport(argparse.Action):
    """--report FORMAT: --format FORMAT, `md` read as markdown."""

    def __call__(self, parser, namespace, values, option_string=None):
        deprecated(f"--report {values}", f"--format {'markdown' if values == 'md' else values}")
        namespace.format = "markdown" if values == "md" else values


# --- one output convention -------------------------------------------------------------------

SUFFIXES = {".txt": "text", ".json": "json", ".md": "markdown", ".xml": "junit"}
STDOUT = "-"  # an --output of "-" is stdout, as the common convention has it


def output_options(sp, formats=("text", "json", "markdown"), *, plot: str | None = None, old=()) -> None:
    """--format and a repeatable --output; `plot` says what an --output ending in .png holds.
    `old` names the deprecated spellings this command took: --report, --json, --markdown, --plot."""
    by_suffix = ", ".join(f"{suffix} is {fmt}" for suffix, fmt in SUFFIXES.items() if fmt in formats and fmt != "text")
    sp.add_argument("--format", choices=formats, help="the report's format (default: text): printed in it, or, "
                    "where an --output names a file, written in it to each file while the text is printed; "
                    f"without --format a file's suffix chooses ({by_suffix}, else text)")
    also = f"; a path ending in .png is {plot}" if plot else ""
    sp.add_argument("--output", action="append", default=[], metavar="PATH",
                    help=f"write the report to PATH too, the text still printed (repeatable); PATH {STDOUT} "
                    f"prints the report in --format instead{also}")
    sp.set_defaults(fixed_outputs=[], draws=bool(plot), formats=formats)
    for flag in old:
        if flag == "--report":
            sp.add_argument("--report", action=_OldReport, choices=("text", "json", "md", "junit"), help=argparse.SUPPRESS)
        else:
            sp.add_argument(flag, action=_OldOutput, fmt=flag[2:], dest=f"old_{flag[2:]}", metavar="PATH")


def outputs(args) -> list[tuple[str, str]]:
    """(format, path) for every file the command writes (or stdout, STDOUT): each --output as
    --format says, else as its suffix says (a chart for .png when the command draws one), else
    text; then the deprecated --json/--markdown/--plot.

    Raises:
        XdlError: a suffix naming a format the command does not write (`--output b.md` where
            there is no markdown), or stdout named twice.
    """
    found = []
    for path in getattr(args, "output", None) or []:
        suffix = os.path.splitext(str(path))[1].lower()
        if args.draws and suffix in PLOT_SUFFIXES:
            found.append(("plot", path))
            continue
        by_suffix = SUFFIXES.get(suffix)
        if by_suffix not in (None, *args.formats) and not args.format:
            raise XdlError(f"--output {path}: this command writes {' or '.join(args.formats)}, not {by_suffix}; "
                           f"name another suffix, or pass --format")
        found.append((args.format or by_suffix or "text", path))
    found += list(getattr(args, "fixed_outputs", None) or [])
    if sum(str(path) == STDOUT for _, path in found) > 1:
        raise XdlError(f"--output {STDOUT} (stdout) is given more than once; name it once")
    return found


def printed(args) -> str:
    """The format stdout gets: that of an --output of STDOUT, else text where a file is written,
    else --format's."""
    files = outputs(args)
    return next((fmt for fmt, path in files if str(path) == STDOUT), "text" if files else args.format or "text")


def emit(args, renderers: dict, what: str, plot=None, *, streamed: bool = False) -> None:
    """Prints the report (in `printed`'s format) and writes each output file.

    Args:
        renderers: format -> function returning the report as that format's text.
        what: the report's name in an error ("the benchmark results").
        plot: function(path) drawing the chart, for a command that draws one.
        streamed: the text was printed already, piece by piece as it came (when `printed` is text).
    """
    files = [(fmt, path) for fmt, path in outputs(args) if str(path) != STDOUT]
    # the files first: one of them may be this very stdout (/dev/stdout), the text goes after it
    written = [(fmt, write_text(path, renderers[fmt](), what)) for fmt, path in files if fmt != "plot"]
    if not streamed:
        print(renderers[printed(args)](), end="")
    for fmt, path in written:
        print(f"{fmt} report: {path}")
    for path in (path for fmt, path in files if fmt == "plot"):
        plot(path)


def write_text(path, text: str, what: str):
    """artifacts.write_text: never into an artifact, never replacing a device, FIFO or link; a
    failure is one line (a full disk exit 3)."""
    from xdl.artifacts import write_text

    return write_text(path, text, what)


def json_text(obj) -> str:
    import json

    return json.dumps(obj, indent=2) + "\n"
