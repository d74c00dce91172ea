"""The `xdl` command: route to the command (xdl/commands/, one module per verb), run it, exit
with a documented code (xdl.errors.EXIT_CODES). The single error boundary lives here.

Start-up imports only argparse and xdl's specs: `xdl --help` and `xdl list` never load
TensorFlow or PyTorch, and `xdl verify` loads only numpy, onnx and onnxruntime.
"""

from __future__ import annotations

import os
import sys
import traceback

from xdl import limits
from xdl.commands import common, parser, route
from xdl.errors import EXIT_INTERRUPTED, EXIT_OK, XdlError, first_line

__all__ = ["main", "parser", "explain"]


def _check_outputs(args) -> None:
    """Refuses an output path that the write would refuse (inside an artifact, a folder...)
    before the command's work, not after it."""
    output = getattr(args, "output", None)
    named = [(f"the {fmt} report" if fmt != "plot" else "the chart", path) for fmt, path in common.outputs(args)] \
        if isinstance(output, list) else [("the output file", output)] if output else []  # port: its weights
    if named:
        from xdl import artifacts

        for what, path in named:
            if str(path) != common.STDOUT:
                artifacts.check_output(path, what)


def main(argv: list[str] | None = None) -> int:
    """Runs one command. The single error boundary: every failure becomes one line on stderr and
    a documented exit code; XDL_DEBUG=1 (or --debug) adds the traceback."""
    debug = os.environ.get("XDL_DEBUG", "") not in ("", "0")
    try:
        limits.catch_interrupts()  # first: a Ctrl-C inside a library's import must not break the library
        p = parser()
        args = p.parse_args(route(sys.argv[1:] if argv is None else list(argv), p))
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
