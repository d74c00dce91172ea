"""What the exporters say while they export a user's model, kept out of xdl's report, and the
one line of an exporter's failure that names its cause.

torch.export prints graph dumps and symbolic-shape warnings, tf2onnx logs every step of its
conversion through Python's logging, TensorFlow's C++ side writes to file descriptor 2 past
Python, and warnings go to sys.stderr: `captured()` takes all of it, at the Python level and at
the file-descriptor level, so that `xdl check` prints a clean report; `xdl check --debug` (and
`xdl.check(..., debug=True)`) shows the text captured. `cause()` finds, in an exporter's
exception chain, the line that says what is wrong (torch's "Could not guard on data-dependent
expression ...", not its "Next steps:" or 37 lines of graph).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import tempfile
import warnings

_COLOUR = re.compile(r"\x1b\[[0-9;]*m")  # the exporters colour their messages


class Captured:
    """The text written while `captured()` was active: `text`, once the block has ended."""

    text: str = ""


@contextlib.contextmanager
def captured():
    """Everything written to stdout and stderr inside the block, by Python (print, logging to
    the console, warnings: those the filters let through) and by native code (file descriptors
    1 and 2), as `Captured.text`. Errors still raise; their text is the exception's."""
    log = Captured()
    python = io.StringIO()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        _flush(stream)
    # Logging handlers hold the stream they were made with (torch's write its symbolic-shape
    # warnings to the sys.stderr of torch's import, which may be no file descriptor: a notebook's
    # or pytest's): every console handler writes here meanwhile.
    consoles = [h for h in _handlers() if type(h) is logging.StreamHandler and not isinstance(h.stream, io.StringIO)]
    with tempfile.TemporaryFile(mode="w+b") as native, warnings.catch_warnings(record=True) as warned:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(native.fileno(), 1)
        os.dup2(native.fileno(), 2)
        streams = [h.stream for h in consoles]
        for handler in consoles:  # not setStream: it flushes the old stream, which may be closed
            handler.stream = python
        # each export's own warnings, though an earlier one said the same ("default" and "once"
        # show a warning once); the exporters' own filters, set inside the block, still apply
        warnings.simplefilter("always")
        try:
            with contextlib.redirect_stdout(python), contextlib.redirect_stderr(python):
                yield log
        finally:
            for handler, stream in zip(consoles, streams):
                handler.stream = stream
            # native code's and the original stream objects' buffered text belongs to the block
            for stream in (sys.__stdout__, sys.__stderr__):
                _flush(stream)
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
            native.seek(0)
            shown = "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in warned)
            log.text = python.getvalue() + shown + native.read().decode("utf-8", "replace")


def _handlers() -> list[logging.Handler]:
    """Every handler of every logger made so far, each once."""
    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values()
                                      if isinstance(v, logging.Logger))]
    return list({id(h): h for logger in loggers for h in logger.handlers}.values())


def _flush(stream) -> None:
    with contextlib.suppress(Exception):  # a closed or detached stream has nothing to flush
        stream.flush()


# Lines of an exporter's error that say where to go next, or dump the graph, not what is wrong.
_NOISE = re.compile(r"^(Next steps:|- |#|def |class |File |Traceback|The following call|For more|Caused by|"
                    r"consider using|If you suspect|\(Refer to|The error above)")
# torch names the user's line that failed: `File "net.py", line 6, in forward` and the code below it
_WHERE = re.compile(r'File "([^"]+)", line (\d+), in \w+\n\s*(\S[^\n]*)')


def cause(exc: BaseException, limit: int = 240) -> str:
    """The line of an exporter's exception that names what went wrong: the first meaningful
    line of the innermost exception of its chain (exporters wrap the real error in their own,
    whose text starts with advice), as `Type: text`, with the user's line of code where the
    message names it (torch.export does)."""
    chain = [exc]
    while (inner := chain[-1].__cause__ or chain[-1].__context__) is not None and inner not in chain:
        chain.append(inner)
    for error in reversed(chain):  # the innermost first
        text = _COLOUR.sub("", str(error))
        lines = [line.strip() for line in text.splitlines() if line.strip() and not _NOISE.match(line.strip())]
        if lines:
            where = _WHERE.search(text)
            at = f" (at {os.path.basename(where[1])}:{where[2]}: {where[3].strip()})" if where else ""
            return f"{type(error).__name__}: {' '.join(lines[0].split())[:limit]}{at}"
    return type(exc).__name__
