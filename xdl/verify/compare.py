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
    """The verdict on one output, and the errors beside it (None: the shapes differ)."""

    max_abs: float | None
    max_rel: float | None
    ok: bool
    detail: str
    argmax_agree: int | None = None
    argmax_total: int | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None


def judge(actual, expected, criteria: Criteria) -> Comparison:
    """Judges `actual` against `expected`: the shapes must be equal (never broadcast), then
    element-wise |actual - expected| <= atol + rtol * |expected|.

    NaN or Inf on either side fails (NaN equals nothing, and a model whose outputs are all NaN
    must not pass with "max_abs 0"), unless `criteria.nonfinite` (an output its spec says may
    hold them): then their positions must match. For class scores the top-1 agreement is
    reported too. It is not a second pass/fail rule: when every element is within tolerance, a
    row's argmax can only flip where its top two values were within 2 * tolerance of each
    other, a tie that no tolerance can decide.
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
    return Comparison(max_abs, max_rel, not problems, "; ".join(problems), agree, total, mean_abs, p99_abs)
