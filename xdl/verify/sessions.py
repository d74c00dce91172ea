"""ONNX Runtime sessions that really run on the provider asked for (CPU, CUDA with and without
TF32), bounded in memory, or the reason they cannot."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import threading

from xdl import limits
from xdl.errors import (
    EXIT_ENVIRONMENT,
    EnvironmentProblem,
    InputError,
    XdlError,
    first_line,
)
from xdl.verify.results import Check

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "cuda-tf32": "CUDAExecutionProvider"}


# ORT's CUDA provider computes float32 matmuls/convs in TF32 by default (10-bit mantissa), which
# alone can exceed a 1e-5 tolerance: "cuda" checks true float32, "cuda-tf32" reports the
# default separately, under its own tolerance (xdl/spec/tolerance.py).
_PROVIDER_OPTIONS = {"cuda": {"use_tf32": "0"}, "cuda-tf32": {"use_tf32": "1"}}


def provider_status(provider: str) -> tuple[bool, str]:
    """Whether ORT offers `provider` here, and why not when it does not."""
    import onnxruntime as ort

    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        hint = " (install onnxruntime-gpu: pip install 'xdl[gpu]')" if provider != "cpu" else ""
        return False, f"this onnxruntime has no {name}{hint}"
    return True, ""


def session(model_bytes: bytes, provider: str):
    """Creates an ORT session that really runs on `provider`.

    Raises:
        XdlError (environment): the provider is absent or ORT fell back to CPU without it.
    """
    import onnxruntime as ort

    usable, reason = provider_status(provider)
    if not usable:
        raise EnvironmentProblem(reason)
    options = limits.session_options()  # CPU memory capped; the fallback warning is replaced below
    providers = [(PROVIDERS[provider], _PROVIDER_OPTIONS.get(provider, {}))]
    if provider != "cpu":
        providers.append("CPUExecutionProvider")  # for the odd op without a CUDA kernel
    try:
        sess = ort.InferenceSession(model_bytes, options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types
        if provider == "cpu":
            raise InputError(f"onnxruntime cannot load the model: {first_line(exc, 300)}") from None
        raise EnvironmentProblem(f"{PROVIDERS[provider]} failed: {first_line(exc, 300)}") from None
    if sess.get_providers()[0] != PROVIDERS[provider]:
        raise EnvironmentProblem(
            f"{PROVIDERS[provider]} did not initialise (ORT fell back to {sess.get_providers()[0]}); "
            f"check the CUDA and cuDNN libraries"
        )
    if may_abort(model_bytes):
        return IsolatedSession(sess, model_bytes, providers)
    return sess


# Ops whose ONNX Runtime kernels (1.31) abort the whole process, "terminate called without an
# active exception", instead of raising: LSTM and GRU on an empty batch, GRU on an empty sequence
# too, whether the graph's input is empty or a node inside makes it so. No Python code survives
# that, so a graph holding one runs in a child process (IsolatedSession).
_ABORTING_OPS = (b"LSTM", b"GRU")


def may_abort(model_bytes: bytes) -> bool:
    """Whether the graph may hold an op that aborts ORT. Op names are plain bytes in the
    protobuf, nested graphs' too; a weight that happens to hold these bytes only costs a child."""
    return any(op in model_bytes for op in _ABORTING_OPS)


_CHILD = """
import os, pickle, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends this child
replies = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)  # stray prints cannot corrupt the replies
requests = sys.stdin.buffer
path, model_bytes, providers, max_memory = pickle.load(requests)
sys.path[:] = path
from xdl import limits
limits.current().max_memory = max_memory
import onnxruntime as ort
sess = ort.InferenceSession(model_bytes, limits.session_options(), providers=providers)
while True:
    try:
        names, feeds = pickle.load(requests)
    except EOFError:
        break
    try:
        reply = ("ok", sess.run(names, feeds))
    except Exception as exc:
        reply = ("error", f"{type(exc).__name__}: {exc}")
    pickle.dump(reply, replies)
    replies.flush()
"""


class IsolatedSession:
    """An ORT session whose runs happen in a child process, so that an input on which ORT
    aborts ends the child, and the run fails with one line, not xdl. The session made here
    answers everything but run(); the child holds its own, made alike (same bytes, providers,
    memory cap). limits.run's terminate flag (a timeout, Ctrl-C) kills the child."""

    def __init__(self, sess, model_bytes: bytes, providers):
        self._sess, self._model_bytes, self._providers = sess, model_bytes, providers
        self._child: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name):  # get_inputs, get_outputs, get_providers...
        if name.startswith("_"):  # not yet set (a failed __init__): no recursion through _sess
            raise AttributeError(name)
        return getattr(self._sess, name)

    def _start(self) -> subprocess.Popen:
        if self._child is None or self._child.poll() is not None:
            self._child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            pickle.dump((sys.path, self._model_bytes, self._providers, limits.current().max_memory), self._child.stdin)
        return self._child

    def run(self, output_names, feeds, run_options=None):
        with self._lock:
            child = self._start()
            reply: dict = {}

            def read():
                try:
                    reply["value"] = pickle.load(child.stdout)
                except (EOFError, pickle.UnpicklingError, OSError):
                    pass  # the child died: said below

            try:
                pickle.dump((output_names, feeds), child.stdin)
                child.stdin.flush()
            except OSError:
                pass  # it died before reading: the reader finds the pipe closed
            reader = threading.Thread(target=read, daemon=True, name="xdl-isolated-run")
            reader.start()
            while reader.is_alive():
                reader.join(0.05)
                if run_options is not None and run_options.terminate:  # a timeout or Ctrl-C in limits.run
                    self.close()
                    raise RuntimeError("the run was stopped")
            if "value" not in reply:
                code = child.wait()
                self._child = None
                why = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit {code}"
                raise RuntimeError(f"onnxruntime crashed running the model on these inputs ({why}; its LSTM and GRU "
                                   f"kernels abort on an empty batch); the model was run in a child process, so only "
                                   f"that run is lost")
            status, value = reply["value"]
            if status == "error":
                raise RuntimeError(value)
            return value

    def close(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        if child is not None:
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit subprocess may be half torn down;
            pass  # the child then reads the end of its input and exits by itself


def providers_to_check(providers, required=()) -> tuple[str, ...]:
    """The providers to run, required ones included (a required provider is always tried).

    Raises:
        InputError: an unknown provider name.
    """
    for p in (*providers, *required):
        if p not in PROVIDERS:
            raise InputError(f"unknown provider {p!r}; use one of: {', '.join(PROVIDERS)}")
    chosen = tuple(dict.fromkeys((*providers, *required)))
    if not chosen:
        raise InputError(f"no provider to run on: --providers is empty; use one or more of {', '.join(PROVIDERS)}")
    return chosen


def open_session(model_bytes: bytes, provider: str, required, *, model: str, framework: str):
    """(a session really on `provider`, None), or (None, the Check saying why not): "skipped"
    when the provider is merely absent here and not required, "error" otherwise."""
    try:
        return session(model_bytes, provider), None
    except XdlError as exc:
        if exc.exit_code == EXIT_ENVIRONMENT and provider not in required:
            return None, Check(model, framework, provider, "skipped", detail=str(exc))
        return None, Check(model, framework, provider, "error", detail=str(exc), exit_code=exc.exit_code)
