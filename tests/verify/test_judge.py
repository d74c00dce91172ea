"""One judgement: every comparison of computed outputs against a reference goes through
xdl.verify.judge with Criteria built in xdl/verify/policy.py, and nowhere else."""

import re
from dataclasses import FrozenInstanceError, replace

import numpy as np
import pytest

from conftest import ROOT
from xdl import verify
from xdl.errors import InputError
from xdl.spec import registry, tolerance

policy = verify.policy


def test_shapes_are_judged_before_values():
    """A site that forgot its own shape check (the matrix, staleness) once raised IndexError out
    of the comparison, a traceback instead of a verdict; now every site gets a failed check
    that names both shapes, and nothing is broadcast."""
    strict = policy.criteria_for("float32", "cpu", "probabilities")
    for actual, expected in [(np.zeros((1, 3)), np.zeros(3)), (np.zeros((2, 1)), np.zeros((1, 2))),
                             (np.zeros(3), np.zeros((3, 1)))]:
        c = verify.judge(actual, expected, strict)
        assert not c.ok and c.detail == f"shape {list(actual.shape)} != expected {list(expected.shape)}"
        assert c.max_abs is None and c.argmax_total is None
    signal = np.arange(6.0).reshape(2, 3) / 6
    assert verify.judge(signal, signal, strict).ok


def test_criteria_are_frozen_and_refuse_what_would_pass_anything():
    c = policy.criteria_for("float32", "cpu", "logits")
    with pytest.raises(FrozenInstanceError):
        c.atol = 1.0
    with pytest.raises(InputError, match="tolerance"):
        verify.Criteria(float("nan"), 1e-5)


def test_criteria_are_the_policy_s_rows():
    spec = registry.get("mlp")
    for provider in tolerance.PROVIDERS:
        for dtype in ("float32", "float16", "int8"):
            c = policy.for_spec(spec, provider, dtype)["probs"]
            assert c.pair == tolerance.tolerance_for(dtype, provider, "probabilities").pair
            assert c.classes and not c.nonfinite
    override = registry.get("autoencoder").expectations.tolerance_override
    assert policy.for_spec(registry.get("autoencoder"), "cpu")["reconstruction"].pair == override.pair
    assert policy.for_spec(registry.get("autoencoder"), "cuda-tf32")["reconstruction"].pair == \
        tolerance.tolerance_for("float32", "cuda-tf32", "reconstruction").pair  # TF32 is never tightened


def test_outputs_are_classes_is_decided_in_one_place():
    assert policy.outputs_are_classes(task="classification")
    assert policy.outputs_are_classes(task="tagging")
    assert not policy.outputs_are_classes(task="classification", part="encoder")
    assert not policy.outputs_are_classes(task="regression")
    # a user's model has no task: its outputs' kind says
    assert policy.outputs_are_classes(kinds=("probabilities",))
    assert not policy.outputs_are_classes(kinds=("probabilities", "logits"))
    assert not policy.outputs_are_classes(kinds=())


def test_looser_takes_the_looser_number_of_each_pair():
    cpu, tf32 = (policy.criteria_for("float32", p, "probabilities", classes=True) for p in ("cpu", "cuda-tf32"))
    pair = policy.looser(cpu, tf32)
    assert pair.pair == tf32.pair and pair.classes
    assert policy.looser(tf32, cpu) == pair
    assert policy.looser(cpu, atol_scale=50.0).pair == (cpu.atol * 50, cpu.rtol)
    assert policy.looser(cpu, atol_scale=0.1).pair == cpu.pair  # never tighter


class _Offset:
    """An ORT session whose outputs move by `offset`: a GPU run's summation order, without a GPU."""

    def __init__(self, sess, offset):
        self.sess, self.offset = sess, offset

    def run(self, names, feeds):
        return [y + np.float32(self.offset) for y in self.sess.run(names, feeds)]


def test_the_matrix_holds_cuda_tf32_runs_to_the_tf32_tolerance(monkeypatch):
    """parity/matrix.py judged cuda-tf32 with the CPU float32 tolerance, so a TF32 run within
    TF32's numbers failed there and passed `xdl verify --providers cuda-tf32`. Now every pair
    is held to the looser of its two runs' criteria; a true float32 CUDA run stays strict."""
    from xdl.parity import matrix

    real = verify.session

    def session(model_bytes, provider):
        cpu = real(model_bytes, "cpu")
        return cpu if provider == "cpu" else _Offset(cpu, 5e-4)  # within TF32's 1e-3, far beyond 1e-5

    monkeypatch.setattr(verify, "session", session)
    m = matrix.build("mlp", "torch", providers=("cpu", "cuda", "cuda-tf32"))
    ok = {(a, b): m.ok[i][j] for i, a in enumerate(m.names) for j, b in enumerate(m.names) if i != j}
    for fw in ("keras", "torch"):
        tf32, cuda = f"onnx[{fw}]/cuda-tf32", f"onnx[{fw}]/cuda"
        assert ok[tf32, "keras"] and ok["torch", tf32] and ok[tf32, f"onnx[{fw}]/cpu"]
        assert not ok[cuda, "keras"] and not ok[f"onnx[{fw}]/cpu", cuda]
        assert m.looser[tf32] == list(tolerance.tolerance_for("float32", "cuda-tf32", "probabilities").pair)
        assert cuda not in m.looser
    assert (m.atol, m.rtol) == registry.get("mlp").tolerance.pair
    assert "pairs with onnx[torch]/cuda-tf32: tolerance atol 0.001 + rtol 0.001" in matrix.render(m)


def test_live_checks_allow_the_nan_a_spec_allows(monkeypatch):
    """Live parity judged every output as if NaN were never allowed; `xdl verify` allowed it
    where the spec says so. Both now take the spec's criteria."""
    from xdl import backends
    from xdl.parity import live

    def nan_row(y):
        y = np.array(y, copy=True)
        y[1] = np.nan  # the same row on both sides: an output that may hold NaN, held there
        return y

    class NanSession:
        def __init__(self, sess):
            self.sess = sess

        def __getattr__(self, name):
            return getattr(self.sess, name)

        def run(self, names, feeds, run_options=None):
            return [nan_row(y) for y in self.sess.run(names, feeds)]

    class NanBackend:
        def __init__(self, fw):
            self.fw = fw

        def __getattr__(self, name):
            return getattr(self.fw, name)

        def predict(self, net, spec, x):
            return nan_row(self.fw.predict(net, spec, x))

    real_open, real_load = verify.open_session, backends.load
    monkeypatch.setattr(verify, "open_session", lambda *a, **k: (lambda s, why: (s and NanSession(s), why))(*real_open(*a, **k)))
    monkeypatch.setattr(backends, "load", lambda name: NanBackend(real_load(name)))
    refused = live.verify_live("mlp", batch_sizes=(3,))
    assert [c.status for c in refused] == ["fail", "fail"] and all("NaN/Inf in the outputs" in c.detail for c in refused)

    spec = registry.get("mlp")
    allowing = replace(spec, contract=replace(spec.contract, outputs=(replace(spec.output, nonfinite=True),)))
    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda name: allowing if name == "mlp" else real_get(name))
    checks = live.verify_live("mlp", batch_sizes=(3,))
    assert [c.status for c in checks] == ["pass", "pass"], [c.detail for c in checks]


def _python_files(*folders):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_criteria_and_tolerances_are_chosen_in_verify_policy_alone():
    """Criteria are built, and the policy's rows looked up, in xdl/verify/policy.py only (the
    spec module keeps its own table and the spec's `tolerance` shorthand)."""
    home = ROOT / "xdl" / "verify" / "policy.py"
    allowed = {home, ROOT / "xdl" / "spec" / "tolerance.py", ROOT / "xdl" / "spec" / "__init__.py"}
    built, looked_up = [], []
    for path in _python_files("xdl", "tutorials"):
        text = path.read_text()
        if path != home and re.search(r"\bCriteria\(", text):
            built.append(path.relative_to(ROOT))
        if path not in allowed and re.search(r"\btolerance_for\(|(?<!xdl\.spec)\.tolerance\b", text):
            looked_up.append(path.relative_to(ROOT))
    assert not built and not looked_up, (built, looked_up)


def test_every_comparison_goes_through_judge():
    """No module but the judge's compares outputs itself: the sites that did (verify, live,
    users, the export guard, staleness, the matrix, routes, variants) call judge()."""
    sites = {"xdl/verify/__init__.py", "xdl/exporting/__init__.py", "xdl/exporting/staleness.py",
             "xdl/parity/matrix.py", "xdl/tools/routes.py", "xdl/twins.py", "xdl/parity/layers.py"}
    through_run_checks = {"xdl/parity/live.py", "xdl/parity/users.py", "xdl/exporting/variants.py"}
    for path in _python_files("xdl"):
        name = str(path.relative_to(ROOT))
        text = path.read_text()
        assert "allclose" not in text and "assert_allclose" not in text, name
        if name in sites:
            assert "verify.judge(" in text or " judge(" in text, name
        if name in through_run_checks:
            assert "run_checks(" in text and "criteria=" in text, name
