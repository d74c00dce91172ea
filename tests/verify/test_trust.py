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
        claimed = verify.policy.criteria_for(dtype, "cpu", "probabilities", classes=True)
        assert verify.judge(got, expected, claimed).ok, attack.__name__
        assert not verify.judge(got, expected, verify.Criteria(1e-5, 1e-5, classes=True)).ok, attack.__name__


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


# --- Read once, hash what you run -----------------------------------------------------------------

def _swap_after_hashing(monkeypatch, folder, relative, replacement: bytes):
    """Replaces `folder/relative` with other bytes right after its sha256 was taken, as a
    concurrent writer (or an attacker racing the check) would: whatever reads the path again
    gets the other file."""
    want = _manifest(folder)["files"][relative]["sha256"]
    swapped = []

    def after(original):
        def digest(arg):
            value = original(arg)
            if value == want and not swapped:
                tmp = folder / (relative + ".new")
                tmp.write_bytes(replacement)
                tmp.replace(folder / relative)
                swapped.append(relative)
            return value
        return digest

    monkeypatch.setattr(artifacts, "sha256_bytes", after(artifacts.sha256_bytes))
    monkeypatch.setattr(artifacts, "sha256_file", after(artifacts.sha256_file))
    return swapped


def test_a_model_swapped_after_its_hash_is_not_run(tmp_path, monkeypatch):
    f = _copy(tmp_path)
    backdoored = dead_qdq(onnx.load(str(f / "model.onnx")), 0.5).SerializeToString()
    swapped = _swap_after_hashing(monkeypatch, f, "model.onnx", backdoored)
    report = _verify(f)
    assert swapped == ["model.onnx"]  # the swap happened, after the hash
    assert (f / "model.onnx").read_bytes() == backdoored
    # What ran is what was hashed: the committed model, within float32 tolerance.
    assert report.exit_code == 0 and all(c.max_abs < 1e-5 for c in report.checks)


def test_a_test_vector_swapped_after_its_hash_is_not_read(tmp_path, monkeypatch):
    f = _copy(tmp_path)
    other = numpy_helper.from_array(np.full((64, 10), 0.1, np.float32), "probs").SerializeToString()
    swapped = _swap_after_hashing(monkeypatch, f, "test_data_set_0/output_0.pb", other)
    report = _verify(f)
    assert swapped == ["test_data_set_0/output_0.pb"]
    assert report.exit_code == 0 and all(c.max_abs < 1e-5 for c in report.checks)


def test_a_file_growing_while_it_is_read_is_refused(tmp_path, monkeypatch):
    """The size checked is the size of the bytes read: a file appended to between the two is refused."""
    f = _copy(tmp_path)
    real_fstat = artifacts.os.fstat

    def fstat_then_grow(fd):
        result = real_fstat(fd)
        with open(f / "model.onnx", "ab") as grow:
            grow.write(b"\0")
        return result

    monkeypatch.setattr(artifacts.os, "fstat", fstat_then_grow)
    with pytest.raises(Exception, match="changed while it was read"):
        artifacts.load(f)


def test_export_check_loads_the_weights_it_hashed(tmp_path, monkeypatch):
    """export --check re-exports from the weights file: other weights swapped in after the hash
    must not be the ones exported (the verdict would be about another file)."""
    pytest.importorskip("torch")
    from xdl.exporting import staleness

    f = _copy(tmp_path)
    other = bytearray((f / "model.safetensors").read_bytes())
    other[-4:] = b"\x00\x00\x80\x3f"  # the last float32 weight becomes 1.0: other weights, same header
    swapped = _swap_after_hashing(monkeypatch, f, "model.safetensors", bytes(other))
    result = staleness.compare_export(f)
    assert swapped == ["model.safetensors"]
    assert result.status == "up to date", result.problems


# --- export --check holds the weights to weights_sha256 ----------------------------------------

def _reheadered(tmp_path):
    """mlp/torch whose safetensors header gained metadata (same tensors) and whose files[] was
    re-hashed: only weights_sha256 still names the original weights."""
    f = _copy(tmp_path)
    path = f / "model.safetensors"
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    header["__metadata__"] = {**header.get("__metadata__", {}), "note": "changed"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data[8 + size:])
    _rehash(f, "model.safetensors")
    return f


def test_weights_other_than_weights_sha256_names_are_refused(tmp_path):
    f = _reheadered(tmp_path)
    with pytest.raises(Exception, match="is not the weights the manifest's weights_sha256 names"):
        artifacts.load(f)


def test_export_check_reports_weights_that_weights_sha256_does_not_name(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    f = _reheadered(tmp_path)
    run = subprocess.run([sys.executable, "-m", "xdl", "export", "mlp", "--check", "--out", str(f.parent.parent)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "up to date" not in run.stdout
    assert "weights_sha256" in run.stdout + run.stderr


def test_readers_that_take_a_path_get_the_bytes_that_were_hashed(tmp_path):
    """verify --live and export --check hand the weights to Keras's and PyTorch's loaders, which
    take a path: a private copy of the hashed bytes, not the artifact's path, which may hold
    another file by then."""
    f = _copy(tmp_path)
    art = artifacts.load(f)
    hashed = (f / "model.safetensors").read_bytes()
    (f / "model.safetensors").write_bytes(b"other weights")
    with art.held("model.safetensors") as path:
        assert path.read_bytes() == hashed and path.name == "model.safetensors" and f not in path.parents
    assert not path.exists()
    with pytest.raises(Exception, match="does not list"):
        with art.held("model.weights.h5"):
            pass


def test_an_output_made_of_constants_is_not_int8_by_default():
    """"Every path from an input passes a quantize node" holds vacuously when there is no path:
    a graph whose output ignores the inputs' values (a table behind a Shape) is float32."""
    table = numpy_helper.from_array(np.full((1, 10), 0.1, np.float32), "table")
    nodes = [helper.make_node("Shape", ["x"], ["shape"], end=1), helper.make_node("Concat", ["shape", "ten"], ["size"], axis=0),
             helper.make_node("Expand", ["table", "size"], ["probs"]), *_qdq("table", "dead")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 28, 28])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 10])],
                              initializer=[table, numpy_helper.from_array(np.array([10], np.int64), "ten"), *_Q])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model)
    assert verify.computing_dtype(model) == ("float32", "float32: an output does not depend on the inputs' values")


def test_a_quantized_graph_inside_both_branches_is_int8_and_one_beside_a_float_branch_is_not():
    model = qdq_in_a_branch_never_taken(onnx.load(str(COMMITTED / "mlp" / "torch" / "model.onnx")), 0.0)
    assert verify.computing_dtype(model)[0] == "float32"  # the float32 branch may be the one that runs
    branch = next(n for n in model.graph.node if n.op_type == "If")
    float_branch = next(a for a in branch.attribute if a.name == "else_branch").g
    float_branch.node.insert(0, helper.make_node("QuantizeLinear", ["raw", "q_scale", "q_zero"], ["raw_q"]))
    float_branch.node.insert(1, helper.make_node("DequantizeLinear", ["raw_q", "q_scale", "q_zero"], ["raw_dq"]))
    float_branch.node[2].input[0] = "raw_dq"
    onnx.checker.check_model(model)
    assert verify.computing_dtype(model)[0] == "int8"  # whichever branch runs, its values were quantized
