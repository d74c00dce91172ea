"""The one judgement: computed outputs against a reference, under the Criteria the policy built
(xdl/verify/policy.py). Every comparison of an export (ONNX Runtime) against its reference goes
through judge(): xdl verify, live parity, users' models, the export guard, staleness, the
parity matrix, routes and variants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdl.verify.policy import Criteria


@dataclass
class Comparison:
    """The verdict on one output, and the errors beside it (None: the shapes differ).

    `ok` means within tolerance AND meaningful: `empty` (why the reference carries no signal)
    makes a comparison within tolerance not ok, and its verdict "empty", not "pass".
    """

    max_abs: float | None
    max_rel: float | None
    ok: bool
    detail: str
    argmax_agree: int | None = None
    argmax_total: int | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None
    magnitude: float | None = None  # max |expected| over its finite values: what the errors are measured against
    empty: str = ""  # why nothing meaningful was compared, and what to do; "" when the reference carries signal

    @property
    def verdict(self) -> str:
        """"pass", "fail" (values, shapes or NaN differ) or "empty" (within tolerance of a
        reference that carries no signal: nothing meaningful was compared)."""
        return "pass" if self.ok else "empty" if self.empty else "fail"


def judge(actual, expected, criteria: Criteria) -> Comparison:
    """Judges `actual` against `expected`: the shapes must be equal (never broadcast), then
    element-wise |actual - expected| <= atol + rtol * |expected|.

    NaN or Inf on either side fails (NaN equals nothing, and a model whose outputs are all NaN
    must not pass with "max_abs 0"), unless `criteria.nonfinite` (an output its spec says may
    hold them): then their positions must match. For class scores the top-1 agreement is
    reported too. It is not a second pass/fail rule: when every element is within tolerance, a
    row's argmax can only flip where its top two values were within 2 * tolerance of each
    other, a tie that no tolerance can decide.

    A comparison within tolerance is "empty", not a pass, when the reference carries no signal
    (no_signal): when an output that ignores the inputs would pass the same test.
    """
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if a.shape != e.shape:
        return Comparison(None, None, False, f"shape {list(a.shape)} != expected {list(e.shape)}")
    atol, rtol = criteria.pair
    problems = []
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if criteria.nonfinite:
        if any(not np.array_equal(test(a), test(e)) for test in (np.isnan, np.isposinf, np.isneginf)):
            problems.append("NaN/Inf positions differ")
    elif not (finite_a.all() and finite_e.all()):
        problems.append(f"NaN/Inf in the outputs ({int((~finite_a).sum())} computed, {int((~finite_e).sum())} "
                        f"expected): no output may hold them")
    both = finite_a & finite_e
    diff = np.abs(a[both] - e[both])
    scale = np.abs(e)[both]
    max_abs = float(diff.max()) if diff.size else 0.0
    meaningful = scale > atol  # relative error of a value near 0 says nothing
    max_rel = float((diff[meaningful] / scale[meaningful]).max()) if meaningful.any() else 0.0
    over = int((diff > atol + rtol * scale).sum())
    if over:
        problems.append(f"{over} of {diff.size} values beyond atol {atol:g} + rtol {rtol:g}")
    if not a.size:
        problems.append("no values to compare")
    agree = total = None
    if criteria.classes and e.ndim >= 2 and e.shape[-1] > 1:  # per sample, or per token for a tagger
        total, agree = int(np.prod(e.shape[:-1])), int((a.argmax(-1) == e.argmax(-1)).sum())
    mean_abs = float(diff.mean()) if diff.size else 0.0
    p99_abs = float(np.percentile(diff, 99)) if diff.size else 0.0
    magnitude = float(scale.max()) if scale.size else 0.0
    empty = "" if problems else no_signal(e, criteria)
    return Comparison(max_abs, max_rel, not (problems or empty), "; ".join(problems), agree, total, mean_abs, p99_abs,
                      magnitude, empty)


def no_signal(expected: np.ndarray, criteria: Criteria) -> str:
    """Why `expected` (batch first, finite) carries no signal under `criteria`, or "".

    Each rule asks whether a stand-in that ignores the inputs would pass the very test judge()
    applies (|stand-in - expected| <= atol + rtol * |expected| everywhere): then a pass proves
    nothing about the model. The stand-ins, from the weakest: zeros (the outputs are below
    the tolerance: a zero-initialised head, fresh BatchNorm statistics giving ~1e-16); the first
    row repeated, with two rows or more (the inputs do not reach the outputs: float inputs cast
    to id 0, a constant input); one constant (a single row whose values are all equal). They
    look at the whole output, never at one column: a classifier's probability for one class may
    rightly be ~0 everywhere, while the other classes carry the signal. A single value (one row
    of one number) is never called constant: there is nothing to be equal to.
    """
    if not expected.size or not np.isfinite(expected).all():
        return ""
    atol, rtol = criteria.pair
    bound = atol + rtol * np.abs(expected)

    def passes(stand_in) -> bool:
        return bool((np.abs(stand_in - expected) <= bound).all())

    what = ("use weights and inputs whose outputs differ beyond the tolerance (trained or initialised weights, "
            "BatchNorm statistics set from real data, real or varied inputs)")
    if passes(0.0):
        return (f"nothing meaningful was compared: every expected value is within the tolerance of 0 (max |expected| "
                f"{np.abs(expected).max():.1e}, atol {atol:g}), so an output of zeros would pass; {what}")
    if len(expected) >= 2 and passes(expected[:1]):
        return (f"nothing meaningful was compared: all {len(expected)} rows of the expected output are the same within "
                f"the tolerance, so an output that ignores the inputs would pass; use inputs that differ (integer ids "
                f"for an embedding, not floats in [0, 1) that all become id 0), or {what}")
    middle = (expected.max() + expected.min()) / 2
    if expected.size >= 2 and passes(middle):
        return (f"nothing meaningful was compared: every expected value is {middle:.4g} within the tolerance, so a "
                f"constant output would pass; {what}")
    return ""
