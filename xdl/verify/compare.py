"""Element-wise comparison of computed and expected outputs under (atol, rtol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdl.errors import InputError


@dataclass
class Comparison:
    max_abs: float
    max_rel: float
    ok: bool
    detail: str
    argmax_agree: int | None = None
    argmax_total: int | None = None
    mean_abs: float = 0.0
    p99_abs: float = 0.0


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float, classifier: bool,
            allow_nonfinite: bool = False) -> Comparison:
    """Element-wise |actual - expected| <= atol + rtol * |expected|.

    NaN or Inf on either side fails (NaN equals nothing, and a model whose outputs are all NaN
    must not pass with "max_abs 0"), unless `allow_nonfinite` (an output its spec says may hold
    them): then their positions must match. For classifiers the top-1 agreement is reported
    too. It is not a second pass/fail rule: when every element is within tolerance, a row's
    argmax can only flip where its top two values were within 2 * tolerance of each other, a
    tie that no tolerance can decide.

    Raises:
        InputError: a tolerance that is negative or not finite (it would pass anything).
    """
    if not (np.isfinite(atol) and np.isfinite(rtol) and atol >= 0 and rtol >= 0):
        raise InputError(f"tolerance atol {atol!r}, rtol {rtol!r} refused: both must be finite and >= 0")
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    problems = []
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if allow_nonfinite:
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
    if classifier and e.ndim >= 2 and e.shape[-1] > 1:  # per sample, or per token for a tagger
        total, agree = int(np.prod(e.shape[:-1])), int((a.argmax(-1) == e.argmax(-1)).sum())
    mean_abs = float(diff.mean()) if diff.size else 0.0
    p99_abs = float(np.percentile(diff, 99)) if diff.size else 0.0
    return Comparison(max_abs, max_rel, not problems, "; ".join(problems), agree, total, mean_abs, p99_abs)


def is_classifier(manifest: dict) -> bool:
    """Whether an artifact's outputs are class probabilities (top-1 agreement is reported)."""
    return manifest.get("task") in ("classification", "tagging") and not manifest.get("part")
