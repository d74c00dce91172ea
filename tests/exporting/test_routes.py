"""Export routes (xdl routes) and the graph optimisation after export (xdl/exporting/optimise.py)."""

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import COMMITTED, ROOT
from test_cli import _one_clean_line, xdl
from xdl import artifacts, backends, models, verify
from xdl.backends import keras_on_torch
from xdl.errors import EnvironmentProblem
from xdl.exporting import graph, optimise
from xdl.spec import registry
from xdl.tools import routes

RESULTS = ROOT / "benchmarks" / "routes-cpu.json"


@pytest.fixture(scope="module")
def committed():
    return json.loads(RESULTS.read_text())


def test_the_committed_table_is_the_committed_results_rendered(committed):
    assert (ROOT / "benchmarks" / "routes-cpu.md").read_text() == routes.render(committed) + "\n"


def test_the_committed_comparison_covers_every_model_and_route(committed):
    have = {(r["model"], r["framework"], r["route"]) for r in committed["routes"]}
    for model in registry.names():
        for framework in registry.FRAMEWORKS:
            for route in backends.load(framework).EXPORT_ROUTES:
                assert (model, framework, route) in have, f"{model}/{route} missing: run `xdl routes all` (docs/routes.md)"
    shipped = [r for r in committed["routes"] if r["shipped"]]
    assert len(shipped) == len(registry.names()) * len(registry.FRAMEWORKS)
    assert all(r["verifies"] and r["deterministic"] and not r["error"] for r in shipped)
    assert routes.exit_code(committed) == 0


def test_a_fresh_comparison_of_mlp_matches_the_committed_one(committed):
    """What is not a timing must come out again: which routes export, their graphs, verdicts."""
    from xdl.tools.doctor import versions as installed  # what `xdl routes` recorded, read the same way

    now, then = installed(), committed["environment"]["versions"]
    moved = [n for n in ("tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "torch", "onnxscript", "onnx", "onnxruntime")
             if now.get(n) != then.get(n)]
    if moved:
        pytest.skip(f"the committed comparison was made with other versions of {', '.join(moved)}")
    fresh = routes.compare_model("mlp", opsets=(graph.OPSET,), reps=3)
    keys = ("route", "shipped", "optimisation", "error", "nodes", "ops", "verifies", "deterministic", "reference")
    committed = [r for r in committed["routes"] if r["model"] == "mlp"]
    assert [{k: r[k] for k in keys} for r in committed] == [{k: getattr(r, k) for k in keys} for r in fresh]
    assert all(r.b1_ms > 0 and r.b64_ms > 0 for r in fresh)


def test_routes_cli_reports_and_exits_0(tmp_path):
    r = xdl("routes", "recommender", "--quick", "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    names = [(x["framework"], x["route"], bool(x["optimisation"])) for x in result["routes"]]
    assert ("keras", "tf2onnx", True) in names and ("keras", "tf2onnx", False) in names
    assert ("keras", "keras-on-torch", False) in names and ("torch", "torchscript", False) in names
    assert (tmp_path / "r.md").read_text() == routes.render(result) + "\n"


@pytest.mark.parametrize("args, says", [
    (("routes", "nosuchmodel"), "unknown model"),
    (("routes", "mlp", "--opsets", "eighteen"), "--opsets"),
    (("export", "mlp", "--route", "teleport", "--framework", "torch"), "no export route 'teleport'"),
    (("export", "mlp", "--route", "torchscript", "--check"), "--route"),
])
def test_bad_route_arguments_exit_2_with_one_line(args, says):
    r = xdl(*args)
    assert r.returncode == 2 and says in _one_clean_line(r)


def test_a_failing_keras_on_torch_child_is_one_line(tmp_path):
    bad = tmp_path / "model.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(EnvironmentProblem, match="^Keras-on-torch export failed: ") as caught:
        keras_on_torch.export_in_child(bad, tmp_path / "model.onnx", 18)
    assert "\n" not in str(caught.value) and not (tmp_path / "model.onnx").exists()


# -- the optimisation -------------------------------------------------------------------------

def _guarded_lookup(rows: int, table_rows: int, consumer: str = "Gather") -> onnx.ModelProto:
    """ids -> tf2onnx's nine-node negative-id guard -> Gather from a table (or another op)."""
    i64, f32 = TensorProto.INT64, TensorProto.FLOAT
    c = lambda name, value, dtype: numpy_helper.from_array(np.array(value, dtype=dtype), name)  # noqa: E731
    nodes = [
        helper.make_node("Cast", ["ids"], ["f"], to=f32),
        helper.make_node("Less", ["f", "zero"], ["neg"]),
        helper.make_node("Cast", ["neg"], ["negi"], to=i64),
        helper.make_node("Add", ["ids", "rows"], ["shifted"]),
        helper.make_node("Mul", ["negi", "shifted"], ["wrapped"]),
        helper.make_node("Not", ["neg"], ["pos"]),
        helper.make_node("Cast", ["pos"], ["posi"], to=i64),
        helper.make_node("Mul", ["ids", "posi"], ["kept"]),
        helper.make_node("Add", ["wrapped", "kept"], ["idx"]),
        helper.make_node("Gather", ["table", "idx"], ["y"], axis=0) if consumer == "Gather"
        else helper.make_node("Cast", ["idx"], ["y"], to=f32),
    ]
    table = np.arange(table_rows * 2, dtype=np.float32).reshape(table_rows, 2)
    out_shape = ["batch", 2] if consumer == "Gather" else ["batch"]
    g = helper.make_graph(nodes, "lookup", [helper.make_tensor_value_info("ids", i64, ["batch"])],
                          [helper.make_tensor_value_info("y", f32, out_shape)],
                          [c("zero", 0.0, np.float32), c("rows", rows, np.int64), c("table", table, np.float32)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def _run(model, ids):
    import onnxruntime as ort

    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]


@pytest.mark.parametrize("rows, table_rows, consumer", [(5, 5, "Gather"), (5, 6, "Gather"), (5, 5, "Cast")])
def test_the_negative_id_guard_becomes_a_where_that_gives_the_same_for_every_id(rows, table_rows, consumer):
    """Three nodes for nine, whatever reads the ids: ids below -n too, which an earlier rewrite
    (dropping the guard) made the Gather refuse where the exporter's graph answered."""
    model = _guarded_lookup(rows, table_rows, consumer)
    optimised, steps = optimise.optimise(model)
    assert "negative-id-guard-as-where" in steps
    assert sorted(n.op_type for n in optimised.graph.node if n.op_type != consumer) == ["Add", "Less", "Where"]
    ids = np.arange(-2 * rows, table_rows, dtype=np.int64)  # every id either graph answers
    assert np.array_equal(_run(optimised, ids), _run(model, ids))
    for beyond in (-2 * rows - 1, table_rows):  # both refuse, or both answer the same
        outcomes = []
        for m in (model, optimised):
            try:
                outcomes.append(_run(m, np.array([beyond], np.int64)).tolist())
            except Exception:  # noqa: BLE001 - ORT's own error types
                outcomes.append("refused")
        assert outcomes[0] == outcomes[1], (beyond, outcomes)


def test_the_optimised_recommender_gives_the_same_ratings_for_every_user_and_item():
    """Exhaustive over the contract's whole domain: 943 x 1,682 (user, item) pairs."""
    art = artifacts.load(COMMITTED / "recommender" / "keras")
    assert art.manifest.optimisation.applied[:2] == ("negative-id-guard-as-where", "row-dot-as-reduce-sum")
    users, items = np.meshgrid(np.arange(943, dtype=np.int64), np.arange(1682, dtype=np.int64), indexing="ij")
    feeds = {"user": users.ravel(), "item": items.ravel()}
    keras = backends.load("keras")
    net = models.build(registry.get("recommender"), "keras")
    keras.load_weights(net, art.folder / keras.WEIGHTS_FILE)
    native = keras.run(net, [feeds["user"], feeds["item"]])["output_0"]  # named outputs (xdl.backends.named_outputs)
    onnx_out = verify.session(art.model_bytes, "cpu").run(None, feeds)[0]
    assert verify.judge(onnx_out, native, verify.policy.for_manifest(art.manifest, "cpu")["rating"]).ok


def _as_tf2onnx_writes_it(model: str) -> onnx.ModelProto:
    """The committed Keras twin of `model` exported without xdl's optimisation."""
    from xdl import exporting

    keras = backends.load("keras")
    spec = registry.get(model)
    net = models.build(spec, "keras")
    keras.load_weights(net, COMMITTED / model / "keras" / keras.WEIGHTS_FILE)
    return exporting.to_onnx(spec, "keras", net, optimised=False)


@pytest.fixture(scope="module")
def gru_loop():
    """The Keras gru's graph as tf2onnx writes it: a Loop."""
    return _as_tf2onnx_writes_it("gru")


def test_the_committed_keras_gru_is_one_gru_op_with_the_loop_only_for_what_it_cannot_do():
    m = json.loads((COMMITTED / "gru" / "keras" / "manifest.json").read_text())
    assert "loop-as-gru" in m["optimisation"]["applied"]
    assert m["ops"].get("GRU") == 1 and m["ops"].get("If") == 1
    model = onnx.load(str(COMMITTED / "gru" / "keras" / "model.onnx"))
    assert "Loop" not in [n.op_type for n in model.graph.node]  # only inside the If's exporter branch


def test_the_gru_rewrite_gives_the_loops_outputs_at_every_length(gru_loop):
    loop = gru_loop
    assert "Loop" in graph.op_counts(loop)
    rewritten, steps = optimise.optimise(loop)
    assert "loop-as-gru" in steps and graph.op_counts(rewritten)["GRU"] == 1
    rng = np.random.default_rng(0)
    spec = registry.get("gru")
    before, after = (verify.session(g.SerializeToString(), "cpu") for g in (loop, rewritten))
    for length in (1, 2, 7, 60, 300):
        x = spec.feeds(spec.sample(rng, 5, length))
        c = verify.judge(after.run(None, x)[0], before.run(None, x)[0], verify.Criteria(1e-5, 1e-5))
        assert c.ok, f"length {length}: {c.detail}"


def _body(model):
    return next(n for n in model.graph.node if n.op_type == "Loop").attribute[0].g


@pytest.mark.parametrize("change", ["one minus z is one minus something else", "a gate reads other columns",
                                    "the state is also used elsewhere"])
def test_a_loop_that_is_not_exactly_that_gru_stays_a_loop(gru_loop, change):
    model = onnx.ModelProto.FromString(gru_loop.SerializeToString())
    body = _body(model)
    if change.startswith("one minus"):
        one = next(t for t in body.initializer if t.data_type == TensorProto.FLOAT and numpy_helper.to_array(t) == 1.0)
        one.CopyFrom(numpy_helper.from_array(np.array(0.5, np.float32), one.name))
    elif change.startswith("a gate"):
        ends = next(t for t in body.initializer if numpy_helper.to_array(t).tolist() == [2**31 - 1, 64])
        ends.CopyFrom(numpy_helper.from_array(np.array([2**31 - 1, 65], np.int64), ends.name))
    else:
        loop = next(n for n in model.graph.node if n.op_type == "Loop")
        model.graph.output.append(helper.make_tensor_value_info(loop.output[1], TensorProto.FLOAT, None))
    rewritten, steps = optimise.optimise(model)
    assert "loop-as-gru" not in steps and "Loop" in graph.op_counts(rewritten)


@pytest.mark.parametrize("framework, route", [("torch", "torchscript"), ("keras", "keras-export")])
def test_an_artifact_exported_by_another_route_verifies_and_checks_up_to_date(quick, tmp_path, framework, route):
    from xdl import exporting
    from xdl.exporting import staleness

    folder = exporting.export("mlp", framework, runs=quick("mlp", framework).runs, out=tmp_path, route=route)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["versions"]["exporter"] == backends.load(framework).EXPORTERS[route]
    assert verify.verify_paths([folder]).exit_code == 0
    assert staleness.compare_export(folder).status == "up to date"  # re-exported by the recorded route


def test_an_artifact_exported_without_optimisation_says_so_and_checks_up_to_date(quick, tmp_path):
    from xdl import exporting
    from xdl.exporting import staleness

    folder = exporting.export("recommender", "keras", runs=quick("recommender", "keras").runs, out=tmp_path, optimised=False)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["optimisation"] == {"enabled": False, "applied": []} and "Not" in manifest["ops"]
    assert staleness.compare_export(folder).status == "up to date"


def _conv1d_as_tf2onnx_writes_it(bias_shape) -> onnx.ModelProto:
    """x (batch, 4, 1, 12) -> Conv 1x3 without bias -> Squeeze height -> Add bias -> Relu ->
    Unsqueeze height -> MaxPool 1x2: a Keras Conv1D and MaxPooling1D, as tf2onnx spells them."""
    rng = np.random.default_rng(0)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value), name)  # noqa: E731
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["conv"], kernel_shape=[1, 3], pads=[0, 1, 0, 1]),
        helper.make_node("Squeeze", ["conv", "h"], ["squeezed"]),
        helper.make_node("Add", ["squeezed", "b"], ["biased"]),
        helper.make_node("Relu", ["biased"], ["relu"]),
        helper.make_node("Unsqueeze", ["relu", "h"], ["back"]),
        helper.make_node("MaxPool", ["back"], ["y"], kernel_shape=[1, 2], strides=[1, 2]),
    ]
    g = helper.make_graph(nodes, "conv1d", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 1, 12])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5, 1, 6])],
                          [c("w", rng.normal(size=(5, 4, 1, 3)).astype(np.float32)), c("h", np.array([2], np.int64)),
                           c("b", rng.normal(size=bias_shape).astype(np.float32))])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)


def test_a_keras_conv1d_gets_its_bias_and_relu_next_to_the_conv_and_computes_the_same():
    model = _conv1d_as_tf2onnx_writes_it((1, 5, 1))
    optimised, steps = optimise.optimise(model)
    assert {"conv-bias-inside-conv", "relu-before-squeeze", "squeeze-unsqueeze-pair"} <= set(steps)
    assert [n.op_type for n in optimised.graph.node] == ["Conv", "Relu", "MaxPool"]
    x = {"x": np.random.default_rng(1).normal(size=(3, 4, 1, 12)).astype(np.float32)}
    run = lambda m: verify.session(m.SerializeToString(), "cpu").run(None, x)[0]  # noqa: E731
    assert verify.judge(run(optimised), run(model), verify.Criteria(1e-6, 1e-6)).ok


def test_a_bias_that_is_not_per_channel_stays_an_add():
    _, steps = optimise.optimise(_conv1d_as_tf2onnx_writes_it((1, 1, 12)))  # one number per position
    assert "conv-bias-inside-conv" not in steps


@pytest.fixture(scope="module")
def tagger_graph():
    """The Keras tagger's graph as tf2onnx writes it: a Dense over steps spelled as a chain."""
    return _as_tf2onnx_writes_it("tagger")


def test_a_dense_over_steps_becomes_one_matmul_at_every_length(tagger_graph):
    rewritten, steps = optimise.optimise(tagger_graph)
    assert "dense-over-steps" in steps
    # the shape arithmetic runs only in the If's exporter branch (an empty tensor), not on the way
    assert "ReduceProd" not in [n.op_type for n in rewritten.graph.node]
    spec, rng = registry.get("tagger"), np.random.default_rng(0)
    before, after = (verify.session(g.SerializeToString(), "cpu") for g in (tagger_graph, rewritten))
    for length in (1, 3, 50, 400):
        x = spec.feeds(spec.sample(rng, 4, length))
        assert verify.judge(after.run(None, x)[0], before.run(None, x)[0], verify.Criteria(1e-6, 1e-6)).ok


def test_a_chain_whose_shapes_are_not_the_flatten_and_unflatten_stays(tagger_graph):
    model = onnx.ModelProto.FromString(tagger_graph.SerializeToString())
    units = next(t for t in model.graph.initializer if numpy_helper.to_array(t).tolist() == [10])
    units.CopyFrom(numpy_helper.from_array(np.array([5, 2], np.int64), units.name))  # unflattens to [b, t, 5, 2]
    _, steps = optimise.optimise(model)
    assert "dense-over-steps" not in steps
