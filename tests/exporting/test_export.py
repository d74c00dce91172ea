"""Exports pass onnx.checker, present one contract for both frameworks and match ORT."""

import json

import onnx
import pytest

from conftest import PAIRS
from xdl import exporting, training
from xdl.exporting import graph
from xdl.parity import live
from xdl.spec import registry


def _model(quick, model, framework):
    return onnx.load(str(quick(model, framework).out / model / framework / "model.onnx"))


@pytest.mark.parametrize("model,framework", PAIRS)
def test_export_passes_checker_and_contract(quick, model, framework):
    proto = _model(quick, model, framework)
    onnx.checker.check_model(proto, full_check=True)
    spec = registry.get(model)
    graph.conforms(proto, spec.contract, spec.name)  # raises if names, dtypes or shapes differ from the spec
    assert {o.domain: o.version for o in proto.opset_import}[""] == graph.OPSET
    first = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert first.dim_param == "batch"


@pytest.mark.parametrize("model", registry.names())
def test_both_exports_present_the_same_contract(quick, model):
    keras_io, torch_io = (
        [graph.declared(v) for v in (*_model(quick, model, f).graph.input, *_model(quick, model, f).graph.output)]
        for f in ("keras", "torch")
    )
    assert keras_io == torch_io


@pytest.mark.parametrize("model,framework", PAIRS)
def test_metadata_props(quick, model, framework):
    props = {p.key: p.value for p in _model(quick, model, framework).metadata_props}
    metrics = quick(model, framework).metrics[model, framework]
    assert props["xdl.model"] == model and props["xdl.framework"] == framework
    assert props["xdl.opset"] == str(graph.OPSET)
    assert props["xdl.dataset"] == metrics["dataset"]
    key = training.metric_key(registry.get(model))
    assert float(props[f"xdl.{key}"]) == pytest.approx(metrics[key], abs=1e-4)
    assert props["xdl.seed"] == str(metrics["seed"])
    for key in ("xdl.framework_version", "xdl.exporter", "xdl.exporter_version", "xdl.version"):
        assert props[key]
    assert json.loads(props["xdl.contract"])[0]["name"] == registry.get(model).contract.inputs[0].name


@pytest.mark.parametrize("model", registry.names())
def test_ort_matches_native_at_several_batch_sizes(quick, model):
    checks = live.verify_live(model, out=quick(model).out, providers=("cpu",))
    assert {c.batch_size for c in checks} == set(live.LIVE_BATCH_SIZES)
    assert {c.framework for c in checks} == set(registry.FRAMEWORKS)
    for c in checks:
        assert c.status == "pass", c  # on unseen test samples, not noise: their outputs differ
        # measured far inside the tolerance: 1e-5, or the spec's atol where its outputs are
        # unbounded values (dqn's Q-values reach about 100)
        assert c.max_abs <= max(1e-5, registry.get(model).tolerance.atol)
        assert c.argmax_agree == c.argmax_total


def test_export_without_training_is_refused(tmp_path):
    from xdl.errors import InputError

    with pytest.raises(InputError, match="xdl train mlp --framework torch"):
        exporting.export("mlp", "torch", runs=tmp_path / "none", out=tmp_path / "out")


@pytest.mark.parametrize("model,framework", PAIRS)
def test_exports_carry_no_machine_paths(quick, model, framework):
    """Exporters' debug metadata (stack traces) named the exporting machine's files."""
    from conftest import ROOT

    out = quick(model, framework).out
    data = (out / model / framework / "model.onnx").read_bytes()
    for leak in (str(ROOT).encode(), b"site-packages", b"stack_trace", str(out).encode()):
        assert leak not in data, leak
