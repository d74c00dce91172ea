"""Bounds on every model run: time, memory, and Ctrl-C honoured while ONNX Runtime computes.

A model is input like any other: a Loop that never ends, or a graph that allocates from the
batch size (ConstantOfShape), must end a run with a clear error, not spin or eat the machine.

- Time: a `session.run` gets RUN_TIMEOUT seconds (env XDL_RUN_TIMEOUT, or `--timeout`); then
  ORT is told to stop (RunOptions.terminate) and the run fails with exit 2. Inside
  `shared_budget()` (one artifact's verification: every batch size on every provider) the runs
  share those seconds, so a hung model costs one limit per artifact, not one per batch size.
  Values above MAX_RUN_TIMEOUT (a week) are taken as a week: threading cannot wait much longer
  (about 292 years, in nanoseconds), and a week already means "no limit" to a verification.
- Memory: ORT allocates from one arena capped at MAX_MEMORY bytes (env XDL_MAX_MEMORY_GB, or
  `--max-memory`); a bigger allocation fails inside ORT. Sizes a user asks for (batch sizes,
  fuzz counts, input shapes) are estimated first and refused above the same cap. A cap above the
  machine's memory protects nothing, so it is taken as the machine's memory (and ORT's arena,
  a size_t, could not hold 1e15 GiB anyway).
- Ctrl-C: the run happens on a worker thread while the main thread waits in short steps, so
  KeyboardInterrupt arrives at once; ORT is told to stop and the interrupt goes on up. While a
  module is being imported, Ctrl-C waits for the import to end (see catch_interrupts).

Imports onnxruntime only when a session is made.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import threading
import time

from xdl.errors import InputError

DEFAULT_RUN_TIMEOUT = 60.0  # seconds per artifact (or per run outside one); our largest model takes well under 1 s
DEFAULT_MAX_MEMORY_GB = 4.0  # a quarter of a 16 GiB machine; every shipped model needs < 0.2
MAX_RUN_TIMEOUT = 7 * 24 * 3600.0  # a week; more is taken as a week (see the module's docstring)


def machine_memory() -> int:
    """Bytes of memory this machine has; 2**50 where the system does not say (no sysconf)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 2**50


def _number(env: str, default: float) -> float:
    text = os.environ.get(env)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{env}={text!r} is not a positive number; unset it or give e.g. {env}={default:g}")
    return value


DEFAULT_JOIN_TIMEOUT = 120.0  # seconds a distributed worker waits for the others to start


def join_timeout() -> float:
    """How long a distributed run's workers wait for each other (XDL_JOIN_TIMEOUT, seconds)."""
    return _number("XDL_JOIN_TIMEOUT", DEFAULT_JOIN_TIMEOUT)


class Limits:
    """The bounds in force; the CLI sets them from its flags, otherwise the environment decides."""

    def __init__(self):
        self.run_timeout = min(_number("XDL_RUN_TIMEOUT", DEFAULT_RUN_TIMEOUT), MAX_RUN_TIMEOUT)
        self.max_memory, self.memory_is_the_machines = _memory_cap(_number("XDL_MAX_MEMORY_GB", DEFAULT_MAX_MEMORY_GB))

    def set(self, *, run_timeout: float | None = None, max_memory_gb: float | None = None) -> None:
        for name, value in (("--timeout", run_timeout), ("--max-memory", max_memory_gb)):
            if value is not None and (not math.isfinite(value) or value <= 0):
                raise InputError(f"{name} takes a positive number, got {value!r}")
        if run_timeout is not None:
            self.run_timeout = min(float(run_timeout), MAX_RUN_TIMEOUT)
        if max_memory_gb is not None:
            self.max_memory, self.memory_is_the_machines = _memory_cap(max_memory_gb)


def _memory_cap(gib: float) -> tuple[int, bool]:
    """(the cap in bytes, whether it is the machine's memory because `gib` asked for more)."""
    machine = machine_memory()
    return (machine, True) if gib * 1024**3 > machine else (int(gib * 1024**3), False)


_current: Limits | None = None


def current() -> Limits:
    global _current
    if _current is None:
        _current = Limits()
    return _current


def check_bytes(n_bytes: float, what: str) -> None:
    """Refuses a size a user asked for when it would need more memory than the cap.

    Raises:
        InputError: `what` needs more than the memory limit.
    """
    cap = current().max_memory
    if n_bytes > cap:
        if current().memory_is_the_machines:
            raise InputError(f"{what} needs about {n_bytes / 1024**3:.1f} GiB, more than this machine's "
                             f"{cap / 1024**3:.1f} GiB of memory; ask for less")
        raise InputError(f"{what} needs about {n_bytes / 1024**3:.1f} GiB, over the {cap / 1024**3:g} GiB limit; "
                         f"ask for less, or raise it with --max-memory GIB")


_arena_registered = False


def session_options():
    """ORT session options whose CPU allocations come from one arena capped at the memory limit."""
    import onnxruntime as ort

    global _arena_registered
    ort.set_default_logger_severity(4)  # fatal only: ORT's error log would repeat the one line we print
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if not _arena_registered:  # once per process: ORT keeps one environment-wide allocator
        info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
        ort.create_and_register_allocator(info, ort.OrtArenaCfg({"max_mem": current().max_memory,
                                                                  "arena_extend_strategy": 1}))
        _arena_registered = True
    options.add_session_config_entry("session.use_env_allocators", "1")
    return options


_interrupted = threading.Event()  # set once Ctrl-C has stopped a run: see interrupted_run()

def interrupted_run() -> bool:
    """Whether Ctrl-C stopped an ONNX Runtime run in this process. Its native threads may still be
    unwinding from the terminate flag; tearing the interpreter down under them makes the C++
    runtime abort ("terminate called without an active exception"), so the CLI then exits at once."""
    return _interrupted.is_set()


# Ctrl-C during an import. Python raises KeyboardInterrupt wherever the main thread is, and inside
# a native module's initialisation that breaks the library instead of stopping it: pybind11 turns
# it into "ImportError: initialization failed" (onnxruntime), onnx's extension crashes (SIGSEGV),
# and a library that catches ImportError to try something else loses the Ctrl-C altogether. So
# while an import is on the stack the interrupt is only held, and raised once the import has ended.
# Before the command's error boundary (cli.main) is entered, every Ctrl-C is held: raised there.
_previous = None  # the SIGINT handler before ours; None while ours is not installed
_armed = False  # cli.main's error boundary is there to catch KeyboardInterrupt
_held = False  # a Ctrl-C arrived during an import and has not been raised yet
_from_us = False  # the next call of the handler is a retry of ours, not a new Ctrl-C
_wake = None  # the pipe that wakes the retry thread
_sending = threading.Lock()  # no retry is sent after release_interrupts() has put the old handler back


def _importing(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_interrupt(signum, frame):
    global _held, _from_us
    stale, _from_us = _from_us and not _held, False
    if stale:  # our retry, after the Ctrl-C it retried was raised
        return
    if not _armed or _importing(frame):
        if not _held:
            _held = True
            os.write(_wake[1], b"!")  # async-signal-safe, and no lock that a handler could deadlock on
        return
    _held = False
    raise KeyboardInterrupt


def _retry() -> None:
    """Sends a held Ctrl-C to the main thread again once its import has ended. A real signal, as
    the first was, so that a wait the main thread has entered since (a join, a lock) wakes up; and
    only outside imports, so that no library's initialisation sees the interrupted system call."""
    global _from_us
    main = threading.main_thread().ident
    while True:
        os.read(_wake[0], 1)
        while _held:
            time.sleep(0.02)
            with _sending:
                if _held and _armed and not _importing(sys._current_frames().get(main)):
                    _from_us = True
                    signal.pthread_kill(main, signal.SIGINT)
                    time.sleep(0.05)  # the main thread's turn to run the handler


def _install() -> None:
    global _previous, _wake
    if _previous is not None or threading.current_thread() is not threading.main_thread():
        return
    if _wake is None:
        _wake = os.pipe()
        threading.Thread(target=_retry, daemon=True, name="xdl-ctrl-c").start()
    _previous = signal.signal(signal.SIGINT, _on_interrupt)


def hold_interrupts_if_command() -> None:
    """Called first thing when the xdl package is imported: in the `xdl` command (`xdl ...`,
    `python -m xdl ...`), a Ctrl-C from now until cli.main starts is held and raised there, so that
    it ends in the one "interrupted" line and exit 130 and not in a traceback from an import. A
    program that imports xdl as a library keeps Python's own handler."""
    argv = getattr(sys, "orig_argv", sys.argv)
    if "-m" in argv:
        command = argv[argv.index("-m") + 1:argv.index("-m") + 2] in (["xdl"], ["xdl.cli"])
    else:
        command = os.path.basename(sys.argv[0]) == "xdl"
    if command:
        _install()


def catch_interrupts() -> None:
    """The command's error boundary is entered: from now on a Ctrl-C is KeyboardInterrupt, as ever,
    except that one during an import is raised when the import has ended (main thread only).

    Raises:
        KeyboardInterrupt: a Ctrl-C came while the command started.
    """
    global _armed, _held
    _install()
    _armed = True
    with _sending:
        held, _held = _held, False
    if held:
        raise KeyboardInterrupt


def release_interrupts(raise_held: bool = True) -> None:
    """Puts the previous Ctrl-C handler back when the command ends.

    Raises:
        KeyboardInterrupt: (raise_held) a Ctrl-C came during the command's last import.
    """
    global _previous, _held, _armed
    with _sending:
        held, _held, _armed = _held, False, False
    if _previous is not None:
        signal.signal(signal.SIGINT, _previous)
        _previous = None
    if held and raise_held:
        raise KeyboardInterrupt


class RunTimeout(InputError):
    """A model ran longer than the time limit (an endless Loop, or a far too large input)."""


_deadline: float | None = None  # time.monotonic() by which the runs of a shared_budget() must end


@contextlib.contextmanager
def shared_budget():
    """The runs inside share one time limit: `--timeout` then bounds a whole artifact's
    verification (every batch size, every provider), which is what a user waiting on a hung
    model expects of it; a limit per run made four batch sizes of an endless Loop cost four
    limits. Nested budgets keep the outer deadline."""
    global _deadline
    outer = _deadline
    if outer is None:
        _deadline = time.monotonic() + current().run_timeout
    try:
        yield
    finally:
        _deadline = outer


def budget_spent() -> bool:
    """Whether the shared_budget() in force has no time left (False outside one)."""
    return _deadline is not None and time.monotonic() >= _deadline


def _timed_out(limit: float) -> RunTimeout:
    shared = ", which all runs of one artifact share" if _deadline is not None else ""
    return RunTimeout(f"the model ran longer than the {limit:g} s limit{shared} (a Loop that never ends, or an input "
                      f"far too large?); raise it with --timeout SECONDS if the model is just slow")


def run(sess, output_names, feeds):
    """`sess.run(output_names, feeds)`, bounded in time and interruptible by Ctrl-C.

    Raises:
        RunTimeout: the run took longer than the limit.
        KeyboardInterrupt: Ctrl-C; ORT was told to stop first.
        Exception: whatever ORT raised for the inputs.
    """
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4  # the terminate flag is logged as an error; we say it once
    result: dict = {}

    def work():
        try:
            result["value"] = sess.run(output_names, feeds, options)
        except BaseException as exc:  # handed to the waiting thread
            result["error"] = exc

    limit = current().run_timeout
    wait = limit if _deadline is None else min(limit, _deadline - time.monotonic())
    if wait <= 0:
        raise _timed_out(limit)
    worker = threading.Thread(target=work, daemon=True, name="xdl-ort-run")
    try:
        try:
            # start() is inside: a Ctrl-C while it waits for the thread (long on a loaded machine) must
            # still stop the run, or the run goes on unbounded and exit waits for ORT's threads.
            worker.start()
            sys.audit("xdl.model_run", limit)  # the model runs now: an observable point (tests wait on it)
            worker.join(wait)
        except KeyboardInterrupt:
            options.terminate = True
            _interrupted.set()
            try:
                worker.join(5)
            except RuntimeError:  # not started yet: ORT checks the flag before it runs anything
                pass
            raise
        if worker.is_alive():
            options.terminate = True
            worker.join(5)
            raise _timed_out(limit)
        if "error" in result:
            raise result["error"]
        return result["value"]
    finally:
        # The worker's exception holds its frame, which holds `result`: a cycle that would keep the
        # session alive until interpreter shutdown, where ORT aborts ("terminate called...").
        result.clear()
