"""Trust at the boundary (issue 26): nothing an artifact can add without changing what it computes
loosens its tolerance; the bytes that are run are the bytes that were hashed; `export --check`
holds the weights to the manifest's weights_sha256.

Every case works on a private copy of a committed artifact; the committed files are not touched.
"""

import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import COMMITTED
from xdl import artifacts, verify
from xdl.spec import tolerance


def _copy(tmp_path, flavour="torch"):
    dst = tmp_path / "art" / "mlp" / flavour
    shutil.copytree(COMMITTED / "mlp" / flavour, dst)
    return dst


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _rehash(folder, *relatives, **changes):
    """Re-hashes `relatives` in the manifest and applies `changes` to it: a consistent edit."""
    m = _manifest(folder)
    for relative in relatives:
        data = (folder / relative).read_bytes()
        m["files"][relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    m.update(changes)
    (folder / "manifest.json").write_text(json.dumps(m))


def _verify(folder):
    return verify.verify_paths([folder], batch_sizes=(64,))


# --- The tolerance is read from what the graph computes, not from what it holds -----------------

_Q = [numpy_helper.from_array(np.array(1 / 255, np.float32), "q_scale"),
      numpy_helper.from_array(np.array(0, np.uint8), "q_zero")]


def _qdq(source, out):
    return [helper.make_node("QuantizeLinear", [source, "q_scale", "q_zero"], [f"{out}_q"]),
            helper.make_node("DequantizeLinear", [f"{out}_q", "q_scale", "q_zero"], [out])]


def _off_by(model, offset, extra_nodes, extra_inits, final=None):
    """The model's probabilities moved by `offset` (what a broken export gives), with `extra_nodes`
    beside them; `final(raw, moved)` may build the output from both instead of a plain Add."""
    graph = model.graph
    producer = next(n for n in graph.node if "probs" in n.output)
    producer.output[list(producer.output).index("probs")] = "raw"
    graph.initializer.extend([numpy_helper.from_array(np.array(offset, np.float32), "offset"), *extra_inits])
    graph.node.extend(extra_nodes)
    graph.node.extend(final() if final else [helper.make_node("Add", ["raw", "offset"], ["probs"])])
    onnx.checker.check_model(model)
    return model


def dead_qdq(model, offset):
    return _off_by(model, offset, _qdq("raw", "dead"), _Q)


def qdq_times_zero(model, offset):
    """out = (raw + offset) + 0 * QDQ(raw): the quantize node reaches the output, but the float32
    path beside it carries the values; the strict reading takes the float32 path."""
    zero = numpy_helper.from_array(np.array(0, np.float32), "zero")
    return _off_by(model, offset, [*_qdq("raw", "qdq"), helper.make_node("Mul", ["qdq", "zero"], ["nothing"]),
                                   helper.make_node("Add", ["raw", "offset"], ["moved"])], [*_Q, zero],
                   final=lambda: [helper.make_node("Add", ["moved", "nothing"], ["probs"])])


def qdq_in_a_branch_never_taken(model, offset):
    """If(false): the quantized branch never runs; the float32 branch does."""
    out = [helper.make_tensor_value_info("branch_out", TensorProto.FLOAT, None)]
    taken = helper.make_graph([helper.make_node("Add", ["raw", "offset"], ["branch_out"])], "float32_branch", [], out)
    never = helper.make_graph([*_qdq("raw", "qdq"), helper.make_node("Identity", ["qdq"], ["branch_out"])],
                              "quantized_branch", [], out)
    no = helper.make_tensor("never", TensorProto.BOOL, [], [False])
    return _off_by(model, offset, [], [*_Q, no], final=lambda: [
        helper.make_node("If", ["never"], ["probs"], then_branch=never, else_branch=taken)])


def unused_half_initializer(model, offset):
    return _off_by(model, offset, [], [numpy_helper.from_array(np.ones(3, np.float16), "unused_half")])


def unused_cast_to_half(model, offset):
    return _off_by(model, offset, [helper.make_node("Cast", ["raw"], ["unused_half"], to=TensorProto.FLOAT16)], [])


# (attack, the variant a manifest would claim, an offset the claimed precision's tolerance
# admits and float32's does not)
ATTACKS = [(dead_qdq, "int8", 4e-2), (qdq_times_zero, "int8", 4e-2), (qdq_in_a_branch_never_taken, "int8", 4e-2),
           (unused_half_initializer, "fp16", 4e-3), (unused_cast_to_half, "fp16", 4e-3)]


def _attacked(tmp_path, attack, offset, variant, registered):
    f = _copy(tmp_path)
    model = attack(onnx.load(str(f / "model.onnx")), offset)
    (f / "model.onnx").write_bytes(model.SerializeToString())
    changes = {}
    if variant:
        changes["variant"] = {"name": variant, "dtype": "int8" if variant == "int8" else "float16"}
    if not registered:
        # An unregistered model is held to its recorded numbers, bounded by the policy's: the
        # attacker records the claimed precision's numbers.
        changes["model"] = "my-own-net"
        tol = {"atol": 5e-2, "rtol": 5e-2} if variant == "int8" else {"atol": 5e-3, "rtol": 5e-3}
        m = _manifest(f)
        changes["tolerance"] = {**m["tolerance"], "outputs": {"probs": {p: tol for p in verify.PROVIDERS}}}
    _rehash(f, "model.onnx", **changes)
    return f


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "unregistered"])
@pytest.mark.parametrize("claims_variant", [True, False], ids=["variant-claimed", "no-variant"])
@pytest.mark.parametrize("attack, variant, offset", ATTACKS, ids=[a.__name__ for a, _, _ in ATTACKS])
def test_nodes_off_the_values_path_do_not_loosen_the_tolerance(tmp_path, attack, variant, offset, registered,
                                                                claims_variant):
    f = _attacked(tmp_path, attack, offset, variant if claims_variant else None, registered)
    report = _verify(f)
    assert report.exit_code != 0, [c.detail for c in report.checks]
    if claims_variant:  # the manifest says what the graph does not compute: refused, not believed
        assert report.exit_code == 2
        assert "computes in float32, the manifest says" in report.checks[0].detail
    else:  # judged as float32 and found off
        assert report.exit_code == 1
        assert all(c.status == "fail" and c.atol <= 1e-4 for c in report.checks)
        assert all("float32: a path from an input to an output passes no quantize or float16 node" in c.detail
                   for c in report.checks)


def test_the_attacks_would_pass_at_the_claimed_precision(tmp_path):
    """The offsets are chosen so that the claimed precision's numbers admit them: without that,
    the test above would prove nothing."""
    f = _copy(tmp_path)
    expected = numpy_helper.to_array(onnx.load_tensor(str(f / "test_data_set_0" / "output_0.pb")))
    for attack, variant, offset in ATTACKS:
        model = attack(onnx.load(str(f / "model.onnx")), offset)
        sess = verify.session(model.SerializeToString(), "cpu")
        x = numpy_helper.to_array(onnx.load_tensor(str(f / "test_data_set_0" / "input_0.pb")))
        got = sess.run(None, {"x": x})[0]
        dtype = "int8" if variant == "int8" else "float16"
        atol, rtol = tolerance.tolerance_for(dtype, "cpu", "probabilities").pair
        assert verify.compare(got, expected, atol, rtol, classifier=True).ok, attack.__name__
        assert not verify.compare(got, expected, 1e-5, 1e-5, classifier=True).ok, attack.__name__


@pytest.mark.parametrize("flavour, dtype", [("torch-int8", "int8"), ("torch-int8-static", "int8"),
                                            ("keras-int8", "int8"), ("keras-int8-static", "int8"),
                                            ("torch-fp16", "float16"), ("keras-fp16", "float16")])
def test_committed_variants_are_judged_at_their_precision(flavour, dtype):
    model = onnx.load(str(COMMITTED / "mlp" / flavour / "model.onnx"))
    assert verify.computing_dtype(model)[0] == dtype
    report = _verify(COMMITTED / "mlp" / flavour)
    assert report.exit_code == 0
    assert all(c.detail.startswith(f"{dtype}: every path from an input to an output passes") for c in report.checks)


def test_committed_cnn_variants_pass():
    for flavour, dtype in (("torch-int8", "int8"), ("torch-fp16", "float16"), ("keras-fp16", "float16")):
        assert verify.computing_dtype(onnx.load(str(COMMITTED / "cnn" / flavour / "model.onnx")))[0] == dtype
    assert verify.verify_paths([COMMITTED / "cnn" / "torch-int8"], batch_sizes=(7,)).exit_code == 0


def test_a_plain_float32_model_says_why_it_is_float32():
    report = _verify(COMMITTED / "mlp" / "torch")
    assert report.exit_code == 0
    assert all(c.detail == "float32: the graph has no quantize or float16 node" for c in report.checks)
