"""The tolerance policy: how close two computations of one model must be, and why.

A check passes when, element by element, |actual - expected| <= atol + rtol * |expected|, NaN and
Inf sit at the same positions, and (reported, for classifiers) the top-1 classes agree. Max, mean
and 99th-percentile errors are reported beside the verdict.

The numbers depend on three things: the dtype the model computes in, where it runs (the
provider) and what kind of numbers it outputs. Each entry says why it is what it is. A model may
override the policy in its spec (`ModelSpec.expectations.tolerance_override`), with a reason. The dtype of an
artifact is read from its graph (xdl/verify/model.py: the paths from its inputs to its outputs),
never from its manifest: nothing an artifact can add without changing what it computes picks a
looser row.

Version history:
    1  first policy (float32 CPU/CUDA/CUDA-TF32; float16; int8), 2026-11.
    2  float16 5e-3 (was 1e-3, written before any float16 model had been measured): a float16
       dot product of K terms accumulates about sqrt(K) roundings, K = 576 in cnn's conv3;
       measured 1.2e-4 (mlp) to 2.6e-3 (cnn) on probabilities. 2026-11.
       The "features" output kind (an encoder's codes) was added later under version 2 with
       the unbounded numbers that logits and regressions have; no number changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdl.errors import InputError


@dataclass(frozen=True)
class Tolerance:
    """Element-wise parity test: |actual - expected| <= atol + rtol * |expected|.

    The numbers come from the policy in xdl/spec/tolerance.py, or a model's override.
    """

    atol: float  # absolute part: what matters for values near 0
    rtol: float  # relative part: what matters for large values
    reason: str  # why these numbers; printed in the docs and recorded in manifests

    @property
    def pair(self) -> tuple[float, float]:
        """(atol, rtol), as xdl.verify's checks take them."""
        return self.atol, self.rtol

    def to_json(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "reason": self.reason}


POLICY_VERSION = 2
PROVIDERS = ("cpu", "cuda", "cuda-tf32")
# "features": unbounded vectors such as an encoder's codes, held to the unbounded numbers.
OUTPUT_KINDS = ("probabilities", "logits", "regression", "reconstruction", "features")

# float32 machine epsilon is 1.2e-7. Two correct float32 computations of a layer differ only in the
# order of their sums; measured here, ORT vs Keras/PyTorch differ by at most 3e-6 on probabilities
# and activations up to ~50 (xdl parity). A wrong layer (a missed transpose, a missing activation)
# differs by 1e-2 or more. 1e-5 sits between, with a margin of three on the worst measured case.
_FP32 = Tolerance(1e-5, 1e-5, "float32: summation order alone, measured <= 3e-6; errors of a wrong layer are >= 1e-2")
# Logits and regression outputs are unbounded (logits of 10-30 are common); an absolute 1e-5 would
# demand more than float32 holds for values that large, so atol grows tenfold and rtol carries it.
_FP32_UNBOUNDED = Tolerance(1e-4, 1e-5, "float32, unbounded outputs (logits ~10-30): atol scaled x10")
# CUDA with TF32 off computes in true float32; cuDNN picks other summation orders than a CPU,
# which the float32 margin covers. No GPU was lent when this was written: these are the CPU
# numbers until measured there.
_FP32_CUDA = Tolerance(1e-5, 1e-5, "CUDA, TF32 off: true float32 in another summation order; CPU numbers, "
                       "not yet measured on a GPU")
_FP32_CUDA_UNBOUNDED = Tolerance(1e-4, 1e-5, "CUDA, TF32 off, unbounded outputs: atol scaled x10; not yet "
                                 "measured on a GPU")
# TF32 rounds matmul/conv inputs to 10 mantissa bits (epsilon 9.8e-4), as float16 does.
_TF32 = Tolerance(1e-3, 1e-3, "CUDA with TF32 on: 10-bit mantissa in matmuls/convs, epsilon 9.8e-4")
_TF32_UNBOUNDED = Tolerance(1e-2, 1e-3, "CUDA with TF32 on, unbounded outputs: atol scaled x10")
# float16: unit roundoff 4.9e-4; a dot product of K terms accumulates ~sqrt(K) roundings (K = 576
# in cnn's conv3: ~1e-2 relative before the softmax squeezes it). Measured on probabilities:
# 1.2e-4 (mlp), 2.6e-3 (cnn). A wrong layer still differs by far more.
_FP16 = Tolerance(5e-3, 5e-3, "float16: unit roundoff 4.9e-4, ~sqrt(K) roundings per K-term dot product; "
                  "measured <= 2.6e-3")
_FP16_UNBOUNDED = Tolerance(5e-2, 5e-3, "float16, unbounded outputs: atol scaled x10")
# int8 (dynamic quantization): weights and activations on 255 levels of their range, so a step of
# ~0.4% of the range; probabilities move by a few hundredths. Accuracy is reported beside it.
_INT8 = Tolerance(5e-2, 5e-2, "int8: 255 levels per tensor range; judge it by accuracy too")
_INT8_UNBOUNDED = Tolerance(5e-1, 5e-2, "int8, unbounded outputs: atol scaled x10")

_BOUNDED = ("probabilities", "reconstruction")  # values in [0, 1]
# The precision each deployment variant (xdl/exporting/variants.py) computes in: the dtype its policy row is.
VARIANT_DTYPES = {"fp16": "float16", "int8": "int8", "int8-static": "int8"}


def tolerance_for(dtype: str, provider: str, kind: str, override: Tolerance | None = None) -> Tolerance:
    """The tolerance for outputs of `kind` computed in `dtype` on `provider`.

    Raises:
        InputError: unknown dtype, provider or output kind.
    """
    if provider not in PROVIDERS:
        raise InputError(f"unknown provider {provider!r}; the policy knows {', '.join(PROVIDERS)}")
    if kind not in OUTPUT_KINDS:
        raise InputError(f"unknown output kind {kind!r}; the policy knows {', '.join(OUTPUT_KINDS)}")
    bounded = kind in _BOUNDED
    if dtype == "float32":
        if provider == "cuda-tf32":
            return _TF32 if bounded else _TF32_UNBOUNDED
        if override is not None:
            return override
        if provider == "cuda":
            return _FP32_CUDA if bounded else _FP32_CUDA_UNBOUNDED
        return _FP32 if bounded else _FP32_UNBOUNDED
    if dtype == "float16":
        return _FP16 if bounded else _FP16_UNBOUNDED
    if dtype == "int8":
        return _INT8 if bounded else _INT8_UNBOUNDED
    raise InputError(f"unknown dtype {dtype!r}; the policy knows float32, float16, int8")


def manifest_entry(spec, dtype: str | None = None) -> dict:
    """What an artifact records: the policy version and, per output and provider, the numbers.

    `dtype` is the precision the model computes in when it is not its outputs' (a variant)."""
    override = spec.expectations.tolerance_override
    return {
        "policy_version": POLICY_VERSION,
        "override": None if override is None else override.to_json(),
        "outputs": {
            t.name: {p: tolerance_for(dtype or t.dtype, p, t.kind, override).to_json() for p in PROVIDERS}
            for t in spec.contract.outputs
        },
    }


def table() -> list[tuple[str, str, str, Tolerance]]:
    """Every (dtype, provider, output kind) with its tolerance, for the docs and the tests."""
    return [(d, p, k, tolerance_for(d, p, k)) for d in ("float32", "float16", "int8") for p in PROVIDERS
            for k in OUTPUT_KINDS]


def markdown_table() -> str:
    """The policy as docs/tolerance.md shows it (a test keeps the two identical)."""
    rows = ["| dtype | provider | probabilities, reconstructions (atol / rtol) | logits, regression, features (atol / rtol) | why |",
            "|---|---|---|---|---|"]
    for dtype in ("float32", "float16", "int8"):
        for provider in PROVIDERS:
            bounded = tolerance_for(dtype, provider, "probabilities")
            unbounded = tolerance_for(dtype, provider, "logits")
            rows.append(f"| {dtype} | {provider} | {bounded.atol:g} / {bounded.rtol:g} | "
                        f"{unbounded.atol:g} / {unbounded.rtol:g} | {bounded.reason} |")
    return "\n".join(rows)
