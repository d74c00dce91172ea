"""ONNX Runtime sessions that really run on the provider asked for (CPU, CUDA with and without
TF32), bounded in memory, or the reason they cannot."""

from __future__ import annotations

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
    return sess


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
