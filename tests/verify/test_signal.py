"""No empty PASS: a comparison within tolerance of a reference that carries no signal (all ~0,
identical rows, one constant) is "empty", exit 3, in every caller of the one judgement."""

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import COMMITTED
from xdl import artifacts, cli, verify
from xdl.errors import EXIT_ENVIRONMENT

STRICT = verify.Criteria(1e-5, 1e-5)


@pytest.mark.parametrize("expected, why", [
    (np.full((4, 10), 3e-16), "within the tolerance of 0"),  # fresh BatchNorm statistics
    (np.zeros((4, 10)), "within the tolerance of 0"),  # a zero-initialised head
    (np.tile([[0.1, 0.7, 0.2]], (5, 1)), "all 5 rows of the expected output are the same"),  # ids all 0
    (np.tile([[0.1, 0.7, 0.2]], (5, 1)) + 1e-7 * np.arange(5)[:, None], "rows"),  # the same within tolerance
    (np.full((1, 4), 0.25), "every expected value is 0.25"),  # one row, a constant
])
def test_a_reference_without_signal_is_empty_not_a_pass(expected, why):
    c = verify.judge(expected, expected, STRICT)
    assert not c.ok and c.verdict == "empty" and why in c.empty
    assert c.empty.startswith("nothing meaningful was compared: ") and "; use " in c.empty  # why; what to do
    assert c.magnitude == pytest.approx(np.abs(expected).max())


@pytest.mark.parametrize("expected", [
    # a classifier sure of its classes: one class ~0 in every row, the others carry the signal
    np.array([[1e-9, 0.3, 0.7], [1e-9, 0.9, 0.1]]),
    np.array([[0.7]]),  # one value: nothing for it to be equal to
    np.array([[2e-5], [5e-5]]),  # small, but beyond atol from 0 and from each other
])
def test_a_reference_with_signal_passes(expected):
    assert verify.judge(expected, expected, STRICT).verdict == "pass"


def test_a_failure_stays_a_failure_whatever_the_reference():
    c = verify.judge(np.ones((2, 3)), np.zeros((2, 3)), STRICT)
    assert c.verdict == "fail" and not c.empty


def _artifact(tmp_path, inputs=None, model=None):
    """mlp/torch copied, with other test inputs or another graph, its outputs recomputed by ORT
    and every file re-hashed: a whole artifact, as a tamperer or a careless export makes it."""
    folder = tmp_path / "mlp" / "torch"
    shutil.copytree(COMMITTED / "mlp" / "torch", folder)
    data = folder / "test_data_set_0"
    if model is not None:
        (folder / "model.onnx").write_bytes(model.SerializeToString())
    if inputs is not None:
        (data / "input_0.pb").write_bytes(numpy_helper.from_array(inputs, "x").SerializeToString())
    x = numpy_helper.to_array(onnx.load_tensor(str(data / "input_0.pb")))
    out = verify.session((folder / "model.onnx").read_bytes(), "cpu").run(None, {"x": x})[0]
    (data / "output_0.pb").write_bytes(numpy_helper.from_array(out, "probs").SerializeToString())
    m = json.loads((folder / "manifest.json").read_text())
    for relative in ("model.onnx", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb"):
        m["files"][relative] = {"sha256": artifacts.sha256_file(folder / relative),
                                "bytes": (folder / relative).stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(m))
    return folder


def _constant_graph(value: float) -> onnx.ModelProto:
    """The mlp's I/O, outputs `value` whatever the input (a head initialised to zeros, then a bias)."""
    nodes = [helper.make_node("Flatten", ["x"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["zero"]),
             helper.make_node("Add", ["zero", "b"], ["probs"])]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 1, 28, 28])],
        [helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(np.zeros((784, 10), np.float32), "w"),
         numpy_helper.from_array(np.full(10, value, np.float32), "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_verify_refuses_identical_rows(tmp_path, capsys):
    x = numpy_helper.to_array(onnx.load_tensor(str(COMMITTED / "mlp/torch/test_data_set_0/input_0.pb")))
    folder = _artifact(tmp_path, inputs=np.repeat(x[:1], len(x), axis=0))
    report = verify.verify_paths([folder], batch_sizes=(1, 7), providers=("cpu",))
    assert [c.status for c in report.checks] == ["pass", "empty"]  # one row has signal; seven copies of it, none
    assert report.exit_code == EXIT_ENVIRONMENT
    assert cli.main(["verify", str(folder), "--providers", "cpu", "--batch-sizes", "7"]) == EXIT_ENVIRONMENT
    out = capsys.readouterr().out
    assert "EMPTY" in out and "nothing meaningful was compared: all 7 rows" in out and "of max|expected|" in out


@pytest.mark.parametrize("value, why", [(0.0, "within the tolerance of 0"), (0.1, "rows")])
def test_verify_refuses_a_model_whose_outputs_carry_no_signal(tmp_path, value, why):
    folder = _artifact(tmp_path, model=_constant_graph(value))
    report = verify.verify_paths([folder], batch_sizes=(2, 64), providers=("cpu",))
    assert {c.status for c in report.checks} == {"empty"} and report.exit_code == EXIT_ENVIRONMENT
    assert all(why in c.detail and c.max_expected == pytest.approx(value) for c in report.checks)
