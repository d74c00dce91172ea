"""The comparison rule, provider handling and the committed artifacts' verdict."""

import json

import numpy as np
import pytest

from conftest import COMMITTED
from xdl import training, verify
from xdl.errors import EXIT_ENVIRONMENT, InputError
from xdl.spec import registry, tasks

CUDA = verify.provider_status("cuda")[0]


def test_compare_identical_and_within_tolerance():
    e = np.array([[0.1, 0.9], [0.7, 0.3]], np.float32)
    c = verify.judge(e, e, verify.Criteria(1e-5, 1e-5, classes=True))
    assert c.ok and c.max_abs == 0.0 and c.argmax_agree == 2
    c = verify.judge(e + 5e-6, e, verify.Criteria(1e-5, 1e-5, classes=True))
    assert c.ok and c.max_abs == pytest.approx(5e-6, rel=1e-2)


def test_compare_beyond_tolerance_fails():
    e = np.array([[0.1, 0.9]], np.float32)
    c = verify.judge(e + np.float32(1e-3), e, verify.Criteria(1e-5, 1e-5))
    assert not c.ok and "beyond" in c.detail


def test_nan_is_not_a_match():
    """An all-NaN model once passed with "max_abs 0.0": NaN at the same place equals nothing."""
    e = np.array([1.0, np.nan, 3.0])
    same = verify.judge(e.copy(), e, verify.Criteria(1e-5, 1e-5))
    assert not same.ok and "NaN/Inf" in same.detail
    assert not verify.judge(np.full(3, np.nan), np.full(3, np.nan), verify.Criteria(1e-5, 1e-5)).ok
    assert not verify.judge(np.array([np.inf]), np.array([np.inf]), verify.Criteria(1e-5, 1e-5)).ok


def test_nan_where_a_spec_allows_it_must_sit_at_the_same_places():
    e = np.array([1.0, np.nan, 3.0])
    assert verify.judge(e.copy(), e, verify.Criteria(1e-5, 1e-5, nonfinite=True)).ok
    a = np.array([1.0, 2.0, np.nan])
    assert "positions differ" in verify.judge(a, e, verify.Criteria(1e-5, 1e-5, nonfinite=True)).detail
    inf = np.array([np.inf, 1.0])
    assert not verify.judge(-inf, inf, verify.Criteria(1e-5, 1e-5, nonfinite=True)).ok


@pytest.mark.parametrize("atol,rtol", [(np.nan, 1e-5), (1e-5, np.inf), (-1.0, 0.0), (np.inf, np.inf)])
def test_a_tolerance_that_passes_anything_is_refused(atol, rtol):
    with pytest.raises(InputError, match="tolerance"):
        verify.judge(np.zeros(2), np.ones(2), verify.Criteria(atol, rtol))


def test_nothing_to_compare_is_not_a_pass():
    assert not verify.judge(np.zeros((0, 3)), np.zeros((0, 3)), verify.Criteria(1e-5, 1e-5)).ok


def test_compare_reports_top1_agreement():
    e = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5 + 1e-7]])
    flipped = np.array([[0.8, 0.2], [0.6, 0.4], [0.5 + 1e-7, 0.5]])
    c = verify.judge(flipped, e, verify.Criteria(1e-5, 1e-5, classes=True))
    assert (c.argmax_agree, c.argmax_total) == (1, 3)
    assert not c.ok  # the real flip is far beyond the tolerance
    tie = verify.judge(flipped[1:], e[1:], verify.Criteria(1e-5, 1e-5, classes=True))
    assert tie.ok and tie.argmax_agree == 1  # a tie within tolerance: reported, not failed
    # the tie alone is one row of equal values: a constant would pass it, so nothing was compared
    assert verify.judge(flipped[2:], e[2:], verify.Criteria(1e-5, 1e-5, classes=True)).verdict == "empty"


@pytest.mark.skipif(CUDA, reason="this machine has CUDA; the no-CUDA behaviour cannot be shown")
def test_cuda_requested_where_there_is_none(quick):
    report = verify.verify_paths([quick("mlp").out / "mlp"], providers=("cpu", "cuda"))
    cuda = [c for c in report.checks if c.provider == "cuda"]
    assert cuda and all(c.status == "skipped" and "CUDAExecutionProvider" in c.detail for c in cuda)
    assert report.exit_code == 0
    report = verify.verify_paths([quick("mlp").out / "mlp"], providers=("cpu",), required=("cuda",))
    assert report.exit_code == EXIT_ENVIRONMENT
    assert any(c.provider == "cuda" and c.status == "error" for c in report.checks)


@pytest.mark.skipif(CUDA, reason="this machine has CUDA; the no-CUDA behaviour cannot be shown")
def test_a_required_provider_is_tried_even_when_not_listed():
    """`xdl all --providers cpu --require cuda` once checked CPU only and exited 0."""
    checks = verify.verify_artifact(COMMITTED / "mlp" / "torch", ("cpu",), required=("cuda",), batch_sizes=(1,))
    assert [(c.provider, c.status, c.exit_code) for c in checks] == [("cpu", "pass", 0), ("cuda", "error", EXIT_ENVIRONMENT)]


def test_unknown_provider():
    with pytest.raises(InputError, match="cpu, cuda"):
        verify.verify_paths([COMMITTED], providers=("tpu",))


def test_committed_artifacts_verify_on_cpu():
    report = verify.verify_paths([COMMITTED], providers=("cpu",))
    labels = {(c.model, c.framework) for c in report.checks}
    assert labels >= {(m, f) for m in registry.names() for f in registry.FRAMEWORKS}
    for c in report.checks:
        assert c.status == "pass", c
        if c.framework in registry.FRAMEWORKS:  # float32 exports; variants have their own tolerance
            # far inside the tolerance: 1e-5, or the spec's atol for unbounded values (dqn's Q-values)
            assert c.max_abs <= max(1e-5, registry.get(c.model).tolerance.atol)
    assert report.exit_code == 0


@pytest.mark.parametrize("model", registry.names())
def test_committed_artifacts_meet_the_goals(model):
    spec = registry.get(model)
    got = {}
    for framework in registry.FRAMEWORKS:
        m = json.loads((COMMITTED / model / framework / "manifest.json").read_text())
        assert m["metrics"]["quick"] is False, "committed artifacts come from a full `xdl all`"
        assert m["dataset"] == spec.recipe.dataset
        got[framework] = m["metrics"][training.metric_key(spec)]
        assert tasks.meets(spec.task, got[framework], spec.expectations.goal), (framework, got)
    assert abs(got["keras"] - got["torch"]) <= spec.expectations.margin, got
