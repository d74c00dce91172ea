"""Bounds that must hold whatever the numbers (issue 26): a time limit bounds one artifact's
verification as a whole, limits too large for the machine or for threading mean "as much as
there is", and ONNX Runtime aborting on an input does not take xdl down with it."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import COMMITTED, ROOT
from xdl import limits, verify


def _xdl(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture
def bounds():
    """limits.current() as a test sets it, put back afterwards."""
    saved = limits.current().__dict__.copy()
    yield limits.current()
    limits.current().__dict__.update(saved)


@pytest.mark.parametrize("flag", [["--timeout", "1e300"], ["--timeout", "1e10"], ["--max-memory", "1e15"]])
def test_a_limit_beyond_what_exists_means_all_there_is(flag):
    """--timeout 1e300 once aborted the process (threading cannot wait that long), 1e10 blamed the
    artifact ("timestamp out of range"), --max-memory 1e15 overflowed ORT's arena size."""
    r = _xdl("verify", COMMITTED / "mlp" / "torch", "--providers", "cpu", "--batch-sizes", "1", *flag)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout


def test_limits_beyond_the_maximum_are_clamped(bounds):
    bounds.set(run_timeout=1e300, max_memory_gb=1e15)
    assert bounds.run_timeout == limits.MAX_RUN_TIMEOUT
    assert bounds.max_memory == limits.machine_memory() and bounds.memory_is_the_machines
    bounds.set(max_memory_gb=1)
    assert bounds.max_memory == 1024**3 and not bounds.memory_is_the_machines


def test_the_environment_cannot_overflow_the_limits_either():
    r = _xdl("verify", COMMITTED / "mlp" / "torch", "--providers", "cpu", "--batch-sizes", "1",
             env={"XDL_RUN_TIMEOUT": "1e300", "XDL_MAX_MEMORY_GB": "1e15"})
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture
def endless(tmp_path):
    """The mlp artifact with its model swapped for an endless Loop (tests/cli/test_bad_inputs.py)."""
    sys.path.insert(0, str(ROOT / "tests" / "cli"))
    from test_bad_inputs import c_endless_loop

    args = c_endless_loop(tmp_path)
    return args[args.index("verify") + 1] / "mlp" / "torch"


def test_an_endless_loop_costs_one_time_limit_per_artifact_not_one_per_batch_size(endless, bounds):
    """Four batch sizes of an endless Loop once took four limits (243 s at the default 60)."""
    timeout = 2.0
    bounds.set(run_timeout=timeout)
    start = time.monotonic()
    checks = verify.verify_artifact(endless, ("cpu",), (), (1, 2, 7, 64))
    elapsed = time.monotonic() - start
    assert elapsed < 2.5 * timeout, f"{elapsed:.1f} s for a {timeout:g} s limit"  # was 4 limits and more
    errors = [c for c in checks if c.status == "error"]
    assert [c.exit_code for c in errors] == [2, 2], [c.detail for c in checks]
    assert "longer than the 2 s limit" in errors[0].detail
    assert "batch sizes 2, 7, 64" in errors[1].detail and "not run" in errors[1].detail


def test_the_time_limit_still_bounds_a_run_outside_an_artifact(endless, bounds):
    """verify --live and check run outside shared_budget(): each run gets the limit itself."""
    import onnxruntime as ort

    bounds.set(run_timeout=1.0)
    sess = ort.InferenceSession((endless / "model.onnx").read_bytes(), providers=["CPUExecutionProvider"])
    start = time.monotonic()
    with pytest.raises(limits.RunTimeout, match="longer than the 1 s limit"):
        limits.run(sess, None, {"x": np.zeros((1, 1, 28, 28), np.float32)})
    assert time.monotonic() - start < 1.0 + 5  # the limit, then at most the 5 s ORT gets to stop


def test_a_budget_is_shared_by_the_runs_inside_it(bounds):
    bounds.set(run_timeout=1e-9)  # spent as soon as it starts
    with limits.shared_budget():
        assert limits.budget_spent()
        with pytest.raises(limits.RunTimeout, match="which all runs of one artifact share"):
            limits.run(None, None, {})  # refused before any session is touched
    assert not limits.budget_spent()


def test_an_abort_inside_onnx_runtime_ends_only_the_isolated_run():
    """ORT aborts the process on an empty batch through its LSTM kernel; a graph holding one runs
    in a child, so the run fails with a reason and the next run works."""
    from xdl.verify import sessions

    art = COMMITTED / "lstm" / "keras"
    sess = verify.session((art / "model.onnx").read_bytes(), "cpu")
    assert isinstance(sess, sessions.IsolatedSession)
    with pytest.raises(RuntimeError, match="onnxruntime crashed running the model on these inputs .signal SIGABRT"):
        limits.run(sess, None, {"tokens": np.zeros((0, 5), np.int64)})
    assert limits.run(sess, None, {"tokens": np.zeros((2, 5), np.int64)})[0].shape == (2, 1)
    sess.close()


def test_a_timeout_ends_an_isolated_run_by_ending_its_child(endless, bounds):
    import onnxruntime as ort

    from xdl.verify import sessions

    model_bytes = (endless / "model.onnx").read_bytes()
    inner = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    sess = sessions.IsolatedSession(inner, model_bytes, ["CPUExecutionProvider"])
    bounds.set(run_timeout=1.0)
    with pytest.raises(limits.RunTimeout):
        limits.run(sess, None, {"x": np.zeros((1, 1, 28, 28), np.float32)})
    assert sess._child is None  # killed, not left spinning


def test_only_graphs_with_an_aborting_op_pay_for_a_child():
    from xdl.verify import sessions

    assert not sessions.may_abort((COMMITTED / "mlp" / "torch" / "model.onnx").read_bytes())
    assert all(sessions.may_abort((COMMITTED / m / fw / "model.onnx").read_bytes())
               for m in ("lstm", "gru", "tagger") for fw in ("keras", "torch"))


# -- the optimised graph is the exporter's graph, on every input ------------------------------

def _outcome(sess, feeds):
    """("answer", outputs) or ("refused", None): ORT's error, or a crash in an isolated run."""
    try:
        return "answer", limits.run(sess, None, feeds)
    except Exception:  # noqa: BLE001 - ORT's own error types, or the isolated run's
        return "refused", None


def _edge_inputs(model: str) -> dict[str, dict[str, np.ndarray]]:
    """NaN and Inf, an empty batch, an empty sequence, ids out of range on both sides."""
    from xdl.spec import registry

    spec, rng = registry.get(model), np.random.default_rng(0)
    if model == "gru":
        x = spec.sample(rng, 3, 5).astype(np.float32)
        nan, inf = x.copy(), x.copy()
        nan[1, 2, 0] = np.nan
        inf[0, 1, 0] = np.inf
        return {"finite": {"x": x}, "NaN": {"x": nan}, "Inf": {"x": inf}, "batch 0": {"x": x[:0]},
                "length 0": {"x": x[:, :0]}}
    if model == "recommender":
        ids = np.array([-1, -943, -944, -1886, -1887, 942, 943], np.int64)
        return {"finite": {"user": np.array([0, 5, 942]), "item": np.array([1, 2, 3])},
                "batch 0": {"user": np.zeros(0, np.int64), "item": np.zeros(0, np.int64)},
                **{f"user {i}": {"user": np.array([i]), "item": np.array([1])} for i in ids}}
    n = {"tagger": 5000, "lstm": 10000}[model]
    tokens = rng.integers(0, n, (3, 6)).astype(np.int64)
    return {"finite": {"tokens": tokens}, "batch 0": {"tokens": tokens[:0]}, "length 0": {"tokens": tokens[:, :0]},
            **{f"id {i}": {"tokens": np.array([[i, 0]], np.int64)} for i in (-1, -n, -n - 1, -2 * n, -2 * n - 1, n)}}


@pytest.mark.parametrize("model, rule", [("gru", "loop-as-gru"), ("recommender", "row-dot-as-reduce-sum"),
                                         ("tagger", "dense-over-steps"), ("lstm", "negative-id-guard-as-where")])
def test_the_optimised_graph_answers_refuses_or_gives_nan_where_the_exporters_does(model, rule):
    """The GRU rewrite turned NaN into finite probabilities and aborted on an empty batch, the
    recommender's gave (0, 16) for (0, 1), the tagger's answered a length-0 sequence the
    exporter's graph refuses, and dropping the id guard refused ids below -n that it answers."""
    pytest.importorskip("tf2onnx")
    from xdl import backends, exporting, models
    from xdl.exporting import optimise
    from xdl.spec import registry

    keras = backends.load("keras")
    spec = registry.get(model)
    net = models.build(spec, "keras")
    keras.load_weights(net, COMMITTED / model / "keras" / keras.WEIGHTS_FILE)
    exported = exporting.to_onnx(spec, "keras", net, optimised=False)
    optimised, steps = optimise.optimise(exported)
    assert rule in steps
    sessions = [verify.session(m.SerializeToString(), "cpu") for m in (exported, optimised)]
    for case, feeds in _edge_inputs(model).items():
        (said, want), (got, have) = (_outcome(s, feeds) for s in sessions)
        assert said == got, f"{model}, {case}: the exporter's graph {said}, the optimised one {got}"
        if said == "answer":
            assert want[0].shape == have[0].shape, f"{model}, {case}: {want[0].shape} != {have[0].shape}"
            assert np.array_equal(np.isnan(want[0]), np.isnan(have[0])), f"{model}, {case}: NaN elsewhere"
            assert np.allclose(want[0], have[0], atol=1e-5, rtol=1e-5, equal_nan=True), f"{model}, {case}"
    for s in sessions:
        getattr(s, "close", lambda: None)()
