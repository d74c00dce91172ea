"""The bad-input corpus: each case runs the real CLI (cli.main, in this process unless the case
needs its own: OWN_PROCESS) and must give one clear line saying what is wrong, the documented
exit code, no traceback, and leave every file it was handed unchanged.

Artifact cases work on a private copy of the committed mlp artifact; the committed folder's
hashes are checked before and after the whole module.
"""

import hashlib
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import COMMITTED, ROOT
from xdl import artifacts, cli, limits


def _tree_hash(root):
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def committed_untouched():
    before = _tree_hash(COMMITTED)
    yield
    assert _tree_hash(COMMITTED) == before, "a bad-input case changed the committed artifacts"


def _copy(tmp):
    dst = tmp / "art" / "mlp"
    shutil.copytree(COMMITTED / "mlp", dst)
    return dst / "torch"


def _rehash(folder, relative):
    m = json.loads((folder / "manifest.json").read_text())
    path = folder / relative
    m["files"][relative] = {"sha256": artifacts.sha256_file(path), "bytes": path.stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(m))


def _replace_input(folder, array, name="x"):
    pb = folder / "test_data_set_0" / "input_0.pb"
    pb.write_bytes(numpy_helper.from_array(array, name=name).SerializeToString())
    _rehash(folder, "test_data_set_0/input_0.pb")


def _stored_input(folder):
    return numpy_helper.to_array(onnx.load_tensor(str(folder / "test_data_set_0" / "input_0.pb")))


# Each case: setup(tmp) -> CLI arguments; the exit code; a phrase the one line must contain.
def _verify(folder):
    return ["verify", folder.parent.parent, "--providers", "cpu", "--batch-sizes", "64"]


def c_unknown_model(tmp): return ["train", "nosuchmodel"]
def c_unknown_dataset(tmp): return ["train", "mlp", "--framework", "torch", "--dataset", "imagenet", "--runs", tmp]
def c_dataset_for_another_model(tmp): return ["train", "mlp", "--framework", "torch", "--dataset", "cifar10", "--runs", tmp]
def c_missing_dataset(tmp): return ["train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp, "--runs", tmp]
def c_unknown_framework(tmp): return ["train", "mlp", "--framework", "jax"]
def c_export_untrained(tmp): return ["export", "cnn", "--runs", tmp / "none", "--out", tmp / "out"]
def c_missing_path(tmp): return ["verify", tmp / "nothing"]
def c_no_artifacts(tmp): return ["verify", tmp]
def c_unknown_provider(tmp): return ["verify", "--providers", "tpu"]
def c_bad_batch_sizes(tmp): return ["verify", "--batch-sizes", "1,x"]
def c_required_cuda(tmp): return ["verify", "exported_models/mlp/torch", "--providers", "cpu", "--require", "cuda"]


def c_unwritable_report(tmp):
    (tmp / "file").write_text("")
    return ["verify", "--providers", "cpu", "--report", "junit", "--output", tmp / "file" / "r.xml"]


def c_report_over_a_manifest(tmp):
    f = _copy(tmp)
    return [*_verify(f), "--report", "json", "--output", f / "manifest.json"]


def c_empty_model(tmp):
    f = _copy(tmp)
    (f / "model.onnx").write_bytes(b"")
    _rehash(f, "model.onnx")
    return _verify(f)


def c_truncated_model(tmp):
    f = _copy(tmp)
    data = (f / "model.onnx").read_bytes()
    (f / "model.onnx").write_bytes(data[: len(data) // 2])
    return _verify(f)


def c_bit_flipped_model(tmp):
    f = _copy(tmp)
    data = bytearray((f / "model.onnx").read_bytes())
    data[1000] ^= 0x10
    (f / "model.onnx").write_bytes(bytes(data))
    return _verify(f)


def c_garbage_model_with_matching_hash(tmp):
    f = _copy(tmp)
    (f / "model.onnx").write_bytes(os.urandom(4096))
    _rehash(f, "model.onnx")
    return _verify(f)


def c_wrong_sha256(tmp):
    f = _copy(tmp)
    m = json.loads((f / "manifest.json").read_text())
    m["files"]["model.onnx"]["sha256"] = "0" * 64
    (f / "manifest.json").write_text(json.dumps(m))
    return _verify(f)


def c_manifest_missing(tmp):
    f = _copy(tmp)
    (f / "manifest.json").unlink()
    return ["verify", f]


def c_manifest_malformed(tmp):
    f = _copy(tmp)
    (f / "manifest.json").write_text("{this is not json")
    return _verify(f)


def c_wrong_input_name(tmp):
    f = _copy(tmp)
    m = json.loads((f / "manifest.json").read_text())
    m["contract"]["inputs"][0]["name"] = "pixels"
    (f / "manifest.json").write_text(json.dumps(m))
    return _verify(f)


def c_wrong_input_shape(tmp):
    f = _copy(tmp)
    _replace_input(f, np.zeros((64, 1, 14, 14), np.float32))
    return _verify(f)


def c_wrong_input_dtype(tmp):
    f = _copy(tmp)
    _replace_input(f, _stored_input(f).astype(np.float64))
    return _verify(f)


def c_wrong_input_rank(tmp):
    f = _copy(tmp)
    _replace_input(f, _stored_input(f).reshape(64, 784))
    return _verify(f)


def c_nan_inputs(tmp):
    f = _copy(tmp)
    x = _stored_input(f).copy()
    x[0, 0, 10, 10] = np.nan
    _replace_input(f, x)
    return _verify(f)


def c_path_traversal_external_data(tmp):
    f = _copy(tmp)
    model = onnx.load(str(f / "model.onnx"))
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../../../etc/passwd")
    (f / "model.onnx").write_bytes(model.SerializeToString())
    _rehash(f, "model.onnx")
    return _verify(f)


def _moved_out_and_linked(name):
    """A case: the artifact's `name` moved out of the folder, a symbolic link left in its place."""
    def case(tmp):
        f = _copy(tmp)
        os.replace(f / name, tmp / f"moved-{name}")
        os.symlink(tmp / f"moved-{name}", f / name)
        return _verify(f)
    return case


c_symlinked_artifact_file = _moved_out_and_linked("model.onnx")
c_test_vectors_in_a_linked_folder = _moved_out_and_linked("test_data_set_0")


def c_symlinked_artifact_folder(tmp):
    f = _copy(tmp)
    (tmp / "linked").mkdir()
    os.symlink(f, tmp / "linked" / "torch")
    return ["verify", tmp / "linked" / "torch", "--providers", "cpu"]


def c_tampered_weights(tmp):
    f = _copy(tmp)
    with open(f / "model.safetensors", "r+b") as w:
        w.seek(-1, 2)
        w.write(b"\x00")
    return ["diff", "mlp", "--weights", "torch", "--out", f.parent.parent]


def c_variant_of_a_sequence_model(tmp): return ["export", "lstm", "--variant", "fp16", "--out", tmp]


def c_token_ids_as_floats(tmp):
    dst = tmp / "art" / "lstm"
    shutil.copytree(COMMITTED / "lstm", dst)
    f = dst / "torch"
    _replace_input(f, _stored_input(f).astype(np.float32), name="tokens")
    return _verify(f)


def c_imdb_that_runs_code(tmp):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    xs = np.empty(1, object)
    xs[0] = Evil()
    np.savez(tmp / "imdb.npz", x_train=xs, y_train=np.array([1]), x_test=xs, y_test=np.array([1]))
    return ["train", "textcnn", "--framework", "torch", "--dataset", "imdb", "--data-dir", tmp, "--runs", tmp]


def c_missing_conll(tmp): return ["train", "tagger", "--framework", "torch", "--dataset", "conll", "--data-dir", tmp, "--runs", tmp]


def c_check_bad_factory(tmp): return ["check", "no_such_module:build", "--input-shape", "2,3"]
def c_check_bad_shape(tmp): return ["check", "json:loads", "--input-shape", "2,-3"]
def c_port_to_itself(tmp): return ["port", "mlp", "--from", "torch", "--to", "torch"]
def c_parity_unknown_model(tmp): return ["parity", "resnet9000"]


CASES = [
    (c_unknown_model, 2, "unknown model 'nosuchmodel'; known models: mlp, cnn"),
    (c_unknown_dataset, 2, "mlp cannot train on 'imagenet'"),
    (c_dataset_for_another_model, 2, "mlp cannot train on 'cifar10'"),
    (c_missing_dataset, 2, "not available offline"),
    (c_unknown_framework, 2, "invalid choice: 'jax'"),
    (c_export_untrained, 2, "run `xdl train cnn --framework keras` first"),
    (c_missing_path, 2, "does not exist"),
    (c_no_artifacts, 2, "no manifest.json found"),
    (c_unknown_provider, 2, "unknown provider 'tpu'"),
    (c_bad_batch_sizes, 2, "--batch-sizes takes comma-separated integers"),
    (c_required_cuda, 3, "CUDAExecutionProvider"),
    (c_unwritable_report, 2, "cannot write the junit report"),
    (c_report_over_a_manifest, 2, "that is inside the artifact"),
    (c_empty_model, 2, "model.onnx is empty"),
    (c_truncated_model, 2, "changed or truncated"),
    (c_bit_flipped_model, 2, "does not match its sha256"),
    (c_garbage_model_with_matching_hash, 2, "is not an ONNX model"),
    (c_wrong_sha256, 2, "does not match its sha256"),
    (c_manifest_missing, 2, "manifest.json is missing"),
    (c_manifest_malformed, 2, "is not valid JSON"),
    (c_wrong_input_name, 2, "the manifest's contract is not the registered mlp's"),
    (c_wrong_input_shape, 2, "onnxruntime rejected the inputs"),
    (c_wrong_input_dtype, 2, "onnxruntime rejected the inputs"),
    (c_wrong_input_rank, 2, "onnxruntime rejected the inputs"),
    (c_nan_inputs, 2, "holds NaN or Inf; test inputs must be finite"),
    (c_path_traversal_external_data, 2, "refers to external data"),
    (c_symlinked_artifact_file, 2, "is a symbolic link"),
    (c_symlinked_artifact_folder, 2, "is a symbolic link"),
    (c_tampered_weights, 2, "does not match its sha256"),
    (c_variant_of_a_sequence_model, 2, "variants are made for classifiers of float32 images"),
    (c_token_ids_as_floats, 2, "onnxruntime rejected the inputs"),
    (c_imdb_that_runs_code, 2, "refusing to load posix.system"),
    (c_missing_conll, 2, "not available offline"),
    (c_check_bad_factory, 2, "cannot load no_such_module:build"),
    (c_check_bad_shape, 2, "--input-shape takes positive"),
    (c_port_to_itself, 2, "--from and --to are both torch"),
    (c_parity_unknown_model, 2, "unknown model 'resnet9000'"),
]


# --- A verdict you can trust (issue 12): each class gets cases; none may pass falsely, hang,
# print a traceback, or exit with the parity code for what is bad input.

def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _write_manifest(folder, m):
    (folder / "manifest.json").write_text(json.dumps(m))


def _random_outputs(folder):
    """Expected outputs replaced by random probabilities, re-hashed: what a loose tolerance hides."""
    y = np.random.default_rng(0).dirichlet(np.ones(10), 64).astype(np.float32)
    (folder / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(y, "probs").SerializeToString())
    _rehash(folder, "test_data_set_0/output_0.pb")


def _loosen(folder, atol, rtol=1e-5, model=None):
    m = _manifest(folder)
    for by_provider in m["tolerance"]["outputs"].values():
        for entry in by_provider.values():
            entry["atol"], entry["rtol"] = atol, rtol
    if model:
        m["model"] = model
        for t in m["contract"]["outputs"]:
            t["kind"] = "probabilities"
    _write_manifest(folder, m)


def c_tolerance_loosened_in_manifest(tmp):
    f = _copy(tmp)
    _random_outputs(f)
    _loosen(f, 1e9, 1e9)
    return _verify(f)


def c_tolerance_nan_in_manifest(tmp):
    f = _copy(tmp)
    _random_outputs(f)
    _loosen(f, float("nan"))
    return _verify(f)


def c_unregistered_model_loosened(tmp):
    f = _copy(tmp)
    _random_outputs(f)
    _loosen(f, 1e9, 1e9, model="my-own-net")
    return _verify(f)


def c_unregistered_model_nan_tolerance(tmp):
    f = _copy(tmp)
    _loosen(f, float("nan"), model="my-own-net")
    return _verify(f)


def c_output_kind_relabelled(tmp):
    """probabilities -> logits would raise atol tenfold; the registered spec decides, not the file."""
    f = _copy(tmp)
    y = numpy_helper.to_array(onnx.load_tensor(str(f / "test_data_set_0" / "output_0.pb")))
    (f / "test_data_set_0" / "output_0.pb").write_bytes(numpy_helper.from_array(y + np.float32(5e-5), "probs").SerializeToString())
    _rehash(f, "test_data_set_0/output_0.pb")
    m = _manifest(f)
    m["contract"]["outputs"][0]["kind"] = "logits"
    _write_manifest(f, m)
    return _verify(f)


def _graph_model(nodes, initializers, x_shape=("batch", 1, 28, 28), y_shape=("batch", 10)):
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, list(y_shape))],
                              initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    return model


def _swap_model(folder, model, outputs=None):
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    _rehash(folder, "model.onnx")
    if outputs is not None:
        pb = folder / "test_data_set_0" / "output_0.pb"
        pb.write_bytes(numpy_helper.from_array(outputs, "probs").SerializeToString())
        _rehash(folder, "test_data_set_0/output_0.pb")


def _nan_model():
    from onnx import helper

    w = numpy_helper.from_array(np.zeros((784, 10), np.float32), "w")
    nan = numpy_helper.from_array(np.full(10, np.nan, np.float32), "nan")
    return _graph_model([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["m"]),
                         helper.make_node("Add", ["m", "nan"], ["probs"])], [w, nan])


def c_all_nan_model_and_outputs(tmp):
    f = _copy(tmp)
    _swap_model(f, _nan_model(), np.full((64, 10), np.nan, np.float32))
    return _verify(f)


def c_empty_providers(tmp): return ["verify", "exported_models/mlp/torch", "--providers", ""]
def c_only_skipped_providers(tmp): return ["verify", "exported_models/mlp/torch", "--providers", "cuda"]


def c_orphan_folder_under_root(tmp):
    f = _copy(tmp)
    (f / "manifest.json").unlink()
    return ["verify", f.parent.parent, "--providers", "cpu", "--batch-sizes", "64"]


def _manifest_edit(edit, flavour="torch"):
    """A case: `edit` applied to the manifest of a private copy of mlp/<flavour>, nothing re-hashed."""
    def case(tmp):
        f = _copy(tmp).with_name(flavour)
        m = _manifest(f)
        edit(m)
        _write_manifest(f, m)
        return _verify(f)
    return case


def _set(*path_and_value):
    """An edit that sets manifest[path...] = value."""
    *path, key, value = path_and_value

    def edit(m):
        for step in path:
            m = m[step]
        m[key] = value
    return edit


# An fp16 model whose manifest says int8 would get int8's tenfold tolerance.
c_variant_relabelled = _manifest_edit(_set("variant", {"name": "int8", "dtype": "int8"}), "torch-fp16")
c_float32_model_called_a_variant = _manifest_edit(_set("variant", {"name": "int8", "dtype": "int8"}))
c_unknown_variant = _manifest_edit(_set("variant", "name", "int2"), "torch-fp16")
c_unknown_output_kind = _manifest_edit(lambda m: (_set("model", "my-own-net")(m),
                                                  _set("contract", "outputs", 0, "kind", "vibes")(m)))
c_unknown_part = _manifest_edit(_set("part", "decoder"))


def c_endless_loop(tmp):
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)])
    model = _nan_model()
    model.graph.node[-1].output[0] = "looped"
    model.graph.node.append(helper.make_node("Loop", ["", "cond", "looped"], ["probs"], body=body))
    model.graph.initializer.append(helper.make_tensor("cond", TensorProto.BOOL, [], [True]))
    f = _copy(tmp)
    _swap_model(f, model)
    return [*_verify(f), "--timeout", "2"]


def c_allocates_from_the_batch(tmp):
    """ConstantOfShape of batch x 2**28 floats: 64 GiB at batch 64, far over the memory cap."""
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Shape", ["x"], ["s"], end=1), helper.make_node("Mul", ["s", "big"], ["n"]),
             helper.make_node("ConstantOfShape", ["n"], ["z"]), helper.make_node("ReduceSum", ["z"], ["total"], keepdims=0),
             helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("ReduceSum", ["f", "axis1"], ["r"], keepdims=1),
             helper.make_node("Mul", ["r", "total"], ["r2"]), helper.make_node("Expand", ["r2", "shape10"], ["probs"])]
    inits = [helper.make_tensor("big", TensorProto.INT64, [1], [2**28]),
             helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("shape10", TensorProto.INT64, [2], [1, 10])]
    f = _copy(tmp)
    _swap_model(f, _graph_model(nodes, inits))
    return [*_verify(f), "--max-memory", "1"]


def c_empty_batch_into_an_lstm(tmp):
    """A graph that slices its batch to 0 rows and runs an LSTM on them: ORT aborts the process
    there (SIGABRT, no verdict) unless the run is isolated."""
    from onnx import helper

    rng = np.random.default_rng(0)
    c = lambda name, value: numpy_helper.from_array(np.asarray(value), name)  # noqa: E731
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Slice", ["f", "zero", "zero", "zero"], ["e"]),
             helper.make_node("Unsqueeze", ["e", "zero"], ["steps"]),
             helper.make_node("LSTM", ["steps", "W", "R"], ["", "h"], hidden_size=10),
             helper.make_node("ReduceSum", ["h"], ["total"], keepdims=0), helper.make_node("MatMul", ["f", "w"], ["m"]),
             helper.make_node("Add", ["m", "total"], ["probs"])]
    inits = [c("zero", np.array([0], np.int64)), c("W", rng.normal(size=(1, 40, 784)).astype(np.float32)),
             c("R", rng.normal(size=(1, 40, 10)).astype(np.float32)), c("w", np.zeros((784, 10), np.float32))]
    f = _copy(tmp)
    _swap_model(f, _graph_model(nodes, inits))
    return _verify(f)


def c_huge_batch(tmp): return ["verify", "exported_models/mlp/torch", "--providers", "cpu", "--batch-sizes", "1000000000"]
def c_huge_fuzz(tmp): return ["verify", "exported_models/cnn/torch", "--providers", "cpu", "--live", "cnn", "--fuzz", "1000000"]
def c_huge_input_shape(tmp): return ["check", "json:loads", "--input-shape", "100000,100000,10"]
def c_bench_unknown_provider(tmp): return ["bench", "mlp", "--quick", "--providers", "tpu"]
def c_bench_plot_not_a_chart(tmp): return ["bench", "mlp", "--quick", "--plot", tmp / "x.onnx"]
def c_bench_plot_inside_an_artifact(tmp): return ["bench", "mlp", "--quick", "--plot", "exported_models/mlp/torch/chart.png"]
def c_bench_huge_batch(tmp): return ["bench", "mlp", "--quick", "--batch-sizes", "100000000"]


def c_huge_batch_under_a_cap_beyond_the_machine(tmp):
    return ["verify", "exported_models/mlp/torch", "--providers", "cpu", "--max-memory", "1e15", "--batch-sizes", "100000000000"]


def _external_in(model_edit):
    def case(tmp):
        f = _copy(tmp)
        model = onnx.load(str(f / "model.onnx"))
        tensor = model_edit(model)
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.external_data.add(key="location", value=str(tmp / "fifo"))
        os.mkfifo(tmp / "fifo")  # opening it would block: the case would time out, not pass
        (f / "model.onnx").write_bytes(model.SerializeToString())
        _rehash(f, "model.onnx")
        return _verify(f)
    return case


def _constant_node(model):
    from onnx import helper

    value = numpy_helper.from_array(np.zeros(1, np.float32), "c")
    model.graph.node.append(helper.make_node("Constant", [], ["unused_c"], value=value))
    return model.graph.node[-1].attribute[0].t


def _loop_body_initializer(model):
    from onnx import TensorProto, helper

    inner = numpy_helper.from_array(np.zeros(1, np.float32), "inner_w")
    body = helper.make_graph([helper.make_node("Identity", ["c_in"], ["c_out"]), helper.make_node("Add", ["v_in", "inner_w"], ["v_out"])],
                             "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                                      helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
                                      helper.make_tensor_value_info("v_in", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
                              helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)], initializer=[inner])
    model.graph.initializer.extend([helper.make_tensor("one", TensorProto.INT64, [], [1]),
                                    helper.make_tensor("yes", TensorProto.BOOL, [], [True]),
                                    numpy_helper.from_array(np.zeros(1, np.float32), "z")])
    model.graph.node.append(helper.make_node("Loop", ["one", "yes", "z"], ["unused_loop"], body=body))
    return model.graph.node[-1].attribute[0].g.initializer[0]


c_external_data_in_constant_node = _external_in(_constant_node)
c_external_data_in_loop_body = _external_in(_loop_body_initializer)


def c_external_data_in_test_vector(tmp):
    f = _copy(tmp)
    proto = numpy_helper.from_array(np.zeros((64, 1, 28, 28), np.float32), "x")
    proto.ClearField("raw_data")
    proto.data_location = onnx.TensorProto.EXTERNAL
    proto.external_data.add(key="location", value=str(tmp / "fifo"))
    os.mkfifo(tmp / "fifo")
    (f / "test_data_set_0" / "input_0.pb").write_bytes(proto.SerializeToString())
    _rehash(f, "test_data_set_0/input_0.pb")
    return _verify(f)


c_shape_is_a_string = _manifest_edit(_set("contract", "inputs", 0, "shape", "abc"))
c_byte_count_is_a_string = _manifest_edit(_set("files", "model.onnx", "bytes", "12"))
c_contract_missing = _manifest_edit(lambda m: m.pop("contract"))
c_model_name_is_a_number = _manifest_edit(_set("model", 123))
c_no_outputs_in_contract = _manifest_edit(_set("contract", "outputs", []))
c_files_is_a_list = _manifest_edit(_set("files", ["model.onnx"]))
c_manifest_version_is_a_dict = _manifest_edit(_set("manifest_version", {"v": 1}))
c_framework_not_made_by_xdl = _manifest_edit(_set("framework", "jax"))
c_unknown_task = _manifest_edit(_set("task", "nosuchtask"))
c_opset_is_a_string = _manifest_edit(_set("opset", "18"))
c_tolerance_is_empty = _manifest_edit(_set("tolerance", {}))


def c_deeply_nested_manifest(tmp):
    f = _copy(tmp)
    (f / "manifest.json").write_text('{"model": ' + "[" * 100000 + "]" * 100000 + "}")
    return _verify(f)


def _replace_pb(folder, name, proto):
    (folder / "test_data_set_0" / name).write_bytes(proto.SerializeToString())
    _rehash(folder, f"test_data_set_0/{name}")


def c_string_test_vector(tmp):
    f = _copy(tmp)
    _replace_pb(f, "input_0.pb", onnx.helper.make_tensor("x", onnx.TensorProto.STRING, [1], [b"hello"]))
    return _verify(f)


def c_test_vector_shorter_than_its_shape(tmp):
    f = _copy(tmp)
    proto = numpy_helper.from_array(np.zeros(10, np.float32), "x")
    del proto.dims[:]
    proto.dims.extend([64, 1, 28, 28])
    _replace_pb(f, "input_0.pb", proto)
    return _verify(f)


def c_outputs_of_another_batch(tmp):
    f = _copy(tmp)
    _replace_pb(f, "output_0.pb", numpy_helper.from_array(np.zeros((3, 10), np.float32), "probs"))
    return _verify(f)


def c_model_file_is_a_folder(tmp):
    f = _copy(tmp)
    (f / "model.onnx").unlink()
    (f / "model.onnx").mkdir()
    return _verify(f)


def c_path_through_a_dot_folder(tmp):
    dst = tmp / ".cache" / "art" / "mlp"
    shutil.copytree(COMMITTED / "mlp" / "torch", dst / "torch")
    return ["verify", dst, "--providers", "cpu", "--batch-sizes", "1"]


def _npz(tmp, **change):
    arrays = dict(x_train=np.zeros((20, 28, 28), np.uint8), y_train=np.arange(20) % 10,
                  x_test=np.zeros((10, 28, 28), np.uint8), y_test=np.arange(10) % 10)
    arrays.update(change)
    np.savez(tmp / "mnist.npz", **arrays)
    return ["train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp, "--runs", tmp / "runs"]


def c_mnist_label_minus_one(tmp): return _npz(tmp, y_train=np.full(20, -1))
def c_mnist_counts_differ(tmp): return _npz(tmp, y_test=np.arange(9) % 10)


def c_mnist_nan_pixel(tmp):
    x = np.zeros((20, 28, 28), np.float32)
    x[3, 4, 5] = np.nan
    return _npz(tmp, x_train=x)


def c_mnist_is_a_folder(tmp):
    (tmp / "mnist.npz").mkdir()
    return ["train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp, "--runs", tmp / "runs"]


def c_conll_in_latin1(tmp):
    (tmp / "conll2003").mkdir()
    for name in ("train.txt", "test.txt"):
        (tmp / "conll2003" / name).write_bytes("Jos\u00e9 NNP B-NP B-PER\n\n".encode("latin-1"))
    return ["train", "tagger", "--framework", "torch", "--dataset", "conll", "--data-dir", tmp, "--runs", tmp / "runs"]


def c_movielens_ids_beyond_the_tables(tmp):
    (tmp / "u.data").write_text("1\t99999\t5\t0\n2\t3\t4\t0\n")
    return ["train", "recommender", "--framework", "torch", "--dataset", "movielens", "--data-dir", tmp, "--runs", tmp / "runs"]


def _user_module(tmp, body):
    (tmp / "usernet.py").write_text("import torch\n" + body)
    return ["check", "usernet:build", "--input-shape", "2,4", "--providers", "cpu"]


def c_check_forward_raises(tmp):
    return _user_module(tmp, "class Net(torch.nn.Module):\n    def forward(self, x):\n        raise ValueError('no')\n"
                             "def build(): return Net()\n")


def c_check_wrong_input_shape(tmp):
    return _user_module(tmp, "def build(): return torch.nn.Linear(7, 2)\n")


def c_check_unexportable_op(tmp):
    return _user_module(tmp, "class Net(torch.nn.Module):\n    def forward(self, x):\n"
                             "        return torch.linalg.eigh(x.T @ x)[0]\ndef build(): return Net()\n")


def c_check_module_raises_on_import(tmp):
    (tmp / "broken.py").write_text("raise RuntimeError('import-time failure')\n")
    return ["check", "broken:build", "--input-shape", "2,4"]


def c_check_outputs_nan(tmp):
    return _user_module(tmp, "class Net(torch.nn.Module):\n    def forward(self, x):\n        return x * float('nan')\n"
                             "def build(): return Net()\n")


def c_epochs_zero(tmp): return ["train", "mlp", "--framework", "torch", "--epochs", "0", "--runs", tmp]
def c_negative_epochs_phased(tmp): return ["train", "transfer", "--framework", "torch", "--epochs", "-2", "--runs", tmp]
def c_negative_fuzz(tmp): return ["verify", "--live", "mlp", "--fuzz", "-1"]
def c_lr_nan(tmp): return ["parity", "mlp", "--train-steps", "2", "--lr", "nan"]
def c_timeout_zero(tmp): return ["verify", "exported_models/mlp/torch", "--timeout", "0"]
def c_bad_memory_env(tmp): return ["verify", "exported_models/mlp/torch", "--providers", "cpu"]


CASES += [
    (c_tolerance_loosened_in_manifest, 1, "beyond atol 1e-05"),
    (c_tolerance_nan_in_manifest, 1, "beyond atol 1e-05"),
    (c_unregistered_model_loosened, 1, "tolerance bounded by the policy"),
    (c_unregistered_model_nan_tolerance, 2, "tolerances must be finite"),
    (c_output_kind_relabelled, 1, "beyond atol 1e-05"),
    (c_all_nan_model_and_outputs, 1, "NaN/Inf in the outputs"),
    (c_empty_providers, 2, "--providers is empty"),
    (c_only_skipped_providers, 3, "nothing was checked"),
    (c_orphan_folder_under_root, 2, "manifest.json is missing"),
    (c_variant_relabelled, 2, "computes in float16, the manifest says int8"),
    (c_float32_model_called_a_variant, 2, "computes in float32, the manifest says int8"),
    (c_unknown_variant, 2, "unknown variant 'int2'"),
    (c_unknown_output_kind, 2, "has kind 'vibes'"),
    (c_unknown_part, 2, "mlp has no part 'decoder'"),
    (c_endless_loop, 2, "longer than the 2 s limit"),
    (c_allocates_from_the_batch, 2, "onnxruntime rejected the inputs"),
    (c_huge_batch, 2, "over the 4 GiB limit"),
    (c_huge_fuzz, 2, "over the 4 GiB limit"),
    (c_huge_input_shape, 2, "over the 4 GiB limit"),
    (c_huge_batch_under_a_cap_beyond_the_machine, 2, "more than this machine's"),
    (c_empty_batch_into_an_lstm, 2, "onnxruntime crashed running the model"),
    (c_bench_unknown_provider, 2, "unknown provider 'tpu'"),
    (c_bench_plot_not_a_chart, 2, "give a path ending in one of them"),
    (c_bench_plot_inside_an_artifact, 2, "inside the artifact"),
    (c_bench_huge_batch, 2, "--batch-sizes 100000000 for mlp needs about"),
    (c_external_data_in_constant_node, 2, "refers to external data"),
    (c_external_data_in_loop_body, 2, "refers to external data"),
    (c_external_data_in_test_vector, 2, "refers to external data"),
    (c_shape_is_a_string, 2, "shape 'abc'"),
    (c_byte_count_is_a_string, 2, "lacks a sha256 string and a byte count"),
    (c_contract_missing, 2, "lacks one of"),
    (c_model_name_is_a_number, 2, "'model' is not a short non-empty string"),
    (c_no_outputs_in_contract, 2, "contract.outputs is not a list of 1 to 16"),
    (c_files_is_a_list, 2, "'files' is not an object"),
    (c_manifest_version_is_a_dict, 2, "has manifest_version {'v': 1}"),
    (c_framework_not_made_by_xdl, 2, "'framework' 'jax' is not one of keras, torch"),
    (c_unknown_task, 2, "'task' 'nosuchtask' is not one of binary, classification,"),
    (c_opset_is_a_string, 2, "'opset' '18' is not an ONNX opset: a positive integer"),
    (c_tolerance_is_empty, 2, "'tolerance' {} is not an object holding 'outputs'"),
    (c_deeply_nested_manifest, 2, "nested too deeply"),
    (c_string_test_vector, 2, "not numbers"),
    (c_test_vector_shorter_than_its_shape, 2, "is not a readable tensor"),
    (c_outputs_of_another_batch, 2, "different number of inputs and outputs"),
    (c_model_file_is_a_folder, 2, "model.onnx is missing"),
    (c_test_vectors_in_a_linked_folder, 2, "leads outside the artifact through a symbolic link"),
    (c_mnist_label_minus_one, 2, "negative labels"),
    (c_mnist_counts_differ, 2, "test split has 10 samples and (9,) labels"),
    (c_mnist_nan_pixel, 2, "NaN or Inf in its samples"),
    (c_mnist_is_a_folder, 2, "is not a valid mnist.npz"),
    (c_conll_in_latin1, 2, "could not be read"),
    (c_movielens_ids_beyond_the_tables, 2, "ids beyond MovieLens"),
    (c_check_forward_raises, 2, "Net fails on inputs of shape [2, 4]"),
    (c_check_wrong_input_shape, 2, "Linear fails on inputs of shape [2, 4]"),
    (c_check_unexportable_op, 2, "the torch exporter cannot export Net"),
    (c_check_module_raises_on_import, 2, "cannot load broken:build: RuntimeError"),
    (c_check_outputs_nan, 2, "outputs NaN or Inf on finite inputs"),
    (c_epochs_zero, 2, "below the smallest allowed, 1"),
    (c_negative_epochs_phased, 2, "below the smallest allowed, 1"),
    (c_negative_fuzz, 2, "below the smallest allowed, 0"),
    (c_lr_nan, 2, "not a finite number above 0"),
    (c_timeout_zero, 2, "not a finite number above 0"),
]
ENV = {c_bad_memory_env: {"XDL_MAX_MEMORY_GB": "lots"}}

# Issue 27: the new spellings (modes as subcommands, --output) refuse what the old ones did, and
# the one parser of integer lists refuses an empty item.
def c_variant_subcommand_of_a_sequence_model(tmp): return ["export", "variant", "fp16", "lstm", "--out", tmp]
def c_steps_lr_nan(tmp): return ["parity", "steps", "mlp", "--steps", "2", "--lr", "nan"]
def c_bench_output_chart_inside_an_artifact(tmp):
    return ["bench", "mlp", "--quick", "--output", "exported_models/mlp/torch/chart.png"]
def c_empty_batch_size(tmp): return ["verify", "--batch-sizes", "1,,64"]
def c_empty_worker_count(tmp): return ["scaling", "mlp", "--workers", "1,"]
def c_empty_opset(tmp): return ["routes", "mlp", "--opsets", "17,"]


CASES += [
    (c_variant_subcommand_of_a_sequence_model, 2, "variants are made for classifiers of float32 images"),
    (c_steps_lr_nan, 2, "not a finite number above 0"),
    (c_bench_output_chart_inside_an_artifact, 2, "inside the artifact"),
    (c_empty_batch_size, 2, "--batch-sizes takes comma-separated integers, got '1,,64', which has an empty item"),
    (c_empty_worker_count, 2, "--workers takes comma-separated worker counts (e.g. 1,2), got '1,', which has"),
    (c_empty_opset, 2, "--opsets takes comma-separated ONNX opsets (e.g. 17,18,21), got '17,', which has"),
]

CASES.append((c_bad_memory_env, 2, "XDL_MAX_MEMORY_GB='lots' is not a positive number"))


# The zoo's later models (issue 15): each model's own wrong input reaches verify as one line.
def _similarity(tmp):
    dst = tmp / "art" / "similarity"
    shutil.copytree(COMMITTED / "similarity", dst)
    return dst / "torch"


def c_similarity_given_one_sentence(tmp):
    f = _similarity(tmp)
    (f / "test_data_set_0" / "input_1.pb").unlink()  # sentence b gone; the manifest still lists it
    return _verify(f)


def c_similarity_sentence_b_as_floats(tmp):
    f = _similarity(tmp)
    b = numpy_helper.to_array(onnx.load_tensor(str(f / "test_data_set_0" / "input_1.pb")))
    (f / "test_data_set_0" / "input_1.pb").write_bytes(numpy_helper.from_array(b.astype(np.float32), "b").SerializeToString())
    _rehash(f, "test_data_set_0/input_1.pb")
    return _verify(f)


def c_dqn_given_a_state_of_three_numbers(tmp):
    dst = tmp / "art" / "dqn"
    shutil.copytree(COMMITTED / "dqn", dst)
    f = dst / "torch"
    _replace_input(f, _stored_input(f)[:, :3].copy(), name="state")
    return _verify(f)


def c_generator_given_noise_of_the_wrong_size(tmp):
    dst = tmp / "art" / "gan"
    shutil.copytree(COMMITTED / "gan", dst)
    f = dst / "torch-generator"
    _replace_input(f, np.zeros((64, 16), np.float32), name="noise")  # the generator takes 32 numbers
    return _verify(f)


CASES += [
    (c_generator_given_noise_of_the_wrong_size, 2, "onnxruntime rejected the inputs"),
    (c_dqn_given_a_state_of_three_numbers, 2, "onnxruntime rejected the inputs"),
    (c_similarity_given_one_sentence, 2, "input_1.pb is missing"),
    (c_similarity_sentence_b_as_floats, 2, "onnxruntime rejected the inputs"),
]


# Trust at the boundary (issue 26): nodes a float32 graph merely holds do not make it int8 or
# float16, and the weights must be those the manifest's weights_sha256 names.
def _moved_with(tmp, nodes, inits, variant, offset):
    """mlp/torch's probabilities moved by `offset` (the claimed variant's numbers would admit it),
    `nodes` beside them, the manifest claiming `variant`; everything re-hashed."""
    from onnx import helper

    f = _copy(tmp)
    model = onnx.load(str(f / "model.onnx"))
    producer = next(n for n in model.graph.node if "probs" in n.output)
    producer.output[0] = "raw"
    model.graph.initializer.extend([numpy_helper.from_array(np.array(offset, np.float32), "offset"), *inits])
    model.graph.node.extend([*nodes, helper.make_node("Add", ["raw", "offset"], ["probs"])])
    _swap_model(f, model)
    _write_manifest(f, {**_manifest(f), "variant": {"name": variant}})
    return _verify(f)


def c_dead_qdq_pair_called_int8(tmp):
    from onnx import helper

    scale = [numpy_helper.from_array(np.array(1 / 255, np.float32), "s"), numpy_helper.from_array(np.array(0, np.uint8), "z")]
    return _moved_with(tmp, [helper.make_node("QuantizeLinear", ["raw", "s", "z"], ["q"]),
                             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dead"])], scale, "int8", 0.04)


def c_unused_float16_initializer_called_fp16(tmp):
    return _moved_with(tmp, [], [numpy_helper.from_array(np.ones(3, np.float16), "unused_half")], "fp16", 0.004)


def c_weights_reheadered_and_rehashed(tmp):
    f = _copy(tmp)
    data = (f / "model.safetensors").read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8:8 + size].rstrip(b" ")[:-1] + b',"__metadata__":{"n":"x"}}'
    header += b" " * (-len(header) % 8)
    (f / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + data[8 + size:])
    _rehash(f, "model.safetensors")
    return _verify(f)


CASES += [
    (c_dead_qdq_pair_called_int8, 2, "computes in float32, the manifest says int8"),
    (c_unused_float16_initializer_called_fp16, 2, "computes in float32, the manifest says float16"),
    (c_weights_reheadered_and_rehashed, 2, "is not the weights the manifest's weights_sha256 names"),
]


# Paths a writer must not replace, and folders that overlap the command's inputs (issue 26):
# refused in one line before anything is written (test_paths.py has the cases that succeed).
def _device(tmp, name, minor):
    try:
        os.mknod(tmp / name, stat.S_IFCHR | 0o666, os.makedev(1, minor))  # a copy of /dev/<name>
    except PermissionError:
        pytest.skip("mknod needs root (CI runs as root)")
    return tmp / name


def c_report_onto_a_full_device(tmp):
    return [*_verify(_copy(tmp)), "--report", "json", "--output", _device(tmp, "full", 7)]


def c_report_to_a_fifo_nobody_reads(tmp):
    os.mkfifo(tmp / "fifo")
    return [*_verify(_copy(tmp)), "--report", "json", "--output", tmp / "fifo"]


def c_report_into_a_folder(tmp): return [*_verify(_copy(tmp)), "--report", "md", "--output", tmp]


def c_export_out_is_its_runs(tmp):
    from test_paths import _run_from_artifact

    _run_from_artifact(COMMITTED / "mlp" / "torch", tmp / "R")
    return ["export", "mlp", "--framework", "torch", "--runs", tmp / "R", "--out", tmp / "R"]


def c_train_into_an_artifact_root(tmp):
    return ["train", "mlp", "--framework", "torch", "--quick", "--runs", _copy(tmp).parent.parent]


def c_port_over_an_artifacts_weights(tmp):
    root = _copy(tmp).parent.parent
    return ["port", "mlp", "--from", "torch", "--out", root, "--output", root / "mlp" / "keras" / "model.weights.h5"]


def c_all_with_runs_as_out(tmp): return ["all", "mlp", "--quick", "--runs", tmp / "R", "--out", tmp / "R"]


CASES += [
    (c_all_with_runs_as_out, 2, "would replace what this command reads"),
    (c_report_onto_a_full_device, 3, "the disk is full"),
    (c_report_to_a_fifo_nobody_reads, 2, "no process is reading the FIFO"),
    (c_report_into_a_folder, 2, "it is a folder"),
    (c_export_out_is_its_runs, 2, "would replace what this command reads"),
    (c_train_into_an_artifact_root, 2, "where artifacts live"),
    (c_port_over_an_artifacts_weights, 2, "that is inside the artifact"),
]


# --- Trust at the boundary (issue 26): a factory that exits, labels a cast would truncate.

def c_check_factory_exits_0(tmp):
    (tmp / "exits.py").write_text("import sys\n\ndef build():\n    sys.exit(0)\n")
    return ["check", "exits:build", "--input-shape", "2,3"]


def c_check_module_exits_at_import(tmp):
    (tmp / "script.py").write_text("import sys\nsys.exit(1)\n\ndef build():\n    pass\n")
    return ["check", "script:build", "--input-shape", "2,3"]


def c_mnist_with_fractional_labels(tmp):
    x = np.zeros((4, 28, 28), np.uint8)
    np.savez(tmp / "mnist.npz", x_train=x, y_train=np.array([0, 1.5, 2, 3]), x_test=x, y_test=np.arange(4.0))
    return ["train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp, "--runs", tmp / "runs"]


def _reviews(*reviews):
    xs = np.empty(len(reviews), object)
    xs[:] = [list(r) for r in reviews]
    return xs


def c_imdb_with_fractional_labels(tmp):
    xs = _reviews([1, 2], [3])
    np.savez(tmp / "imdb.npz", x_train=xs, y_train=np.array([0.0, 0.5]), x_test=xs, y_test=np.array([0, 1]))
    return ["train", "textcnn", "--framework", "torch", "--dataset", "imdb", "--data-dir", tmp, "--runs", tmp / "runs"]


def c_imdb_with_fractional_word_ranks(tmp):
    xs = _reviews([1, 2.5], [3])
    np.savez(tmp / "imdb.npz", x_train=xs, y_train=np.array([0, 1]), x_test=xs, y_test=np.array([0, 1]))
    return ["train", "textcnn", "--framework", "torch", "--dataset", "imdb", "--data-dir", tmp, "--runs", tmp / "runs"]


def c_cifar10_with_fractional_labels(tmp):
    import pickle

    root = tmp / "cifar-10-batches-py"
    root.mkdir()
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (root / name).write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 2.5]}))
    return ["train", "cnn", "--framework", "torch", "--dataset", "cifar10", "--data-dir", tmp, "--runs", tmp / "runs"]


CASES += [
    (c_check_factory_exits_0, 2, "called sys.exit(0) instead of returning a model"),
    (c_check_module_exits_at_import, 2, "importing script called sys.exit(1)"),
    (c_mnist_with_fractional_labels, 2, "y_train: 1 label(s) not whole numbers (the first: 1.5)"),
    (c_imdb_with_fractional_labels, 2, "y_train: 1 label(s) not whole numbers (the first: 0.5)"),
    (c_imdb_with_fractional_word_ranks, 2, "word rank(s) not whole numbers (the first: 2.5)"),
    (c_cifar10_with_fractional_labels, 2, "labels: 1 label(s) not whole numbers (the first: 2.5)"),
]

def _token_module(tmp, *extra):
    (tmp / "tokennet.py").write_text("import torch\ndef build(): return torch.nn.Embedding(10, 3)\n")
    return ["check", "tokennet:build", "--providers", "cpu", *extra]


def c_check_input_unknown_dtype(tmp): return _token_module(tmp, "--input", "ids=2,5:int65:0:10")
def c_check_input_malformed_shape(tmp): return _token_module(tmp, "--input", "ids=2,x:int64:0:10")
def c_check_input_without_name(tmp): return _token_module(tmp, "--input", "2,5:int64:0:10")
def c_check_int_input_without_range(tmp): return _token_module(tmp, "--input", "ids=2,5:int64")
def c_check_dynamic_malformed(tmp): return _token_module(tmp, "--input", "ids=2,5:int64:0:10", "--dynamic", "ids")
def c_check_dynamic_unknown_input(tmp): return _token_module(tmp, "--input", "ids=2,5:int64:0:10", "--dynamic", "x:1")


def c_check_npz_missing_a_name(tmp):
    np.savez(tmp / "samples.npz", other=np.zeros((2, 5), np.int64))
    return _token_module(tmp, "--inputs", tmp / "samples.npz", "--input", "ids=2,5:int64:0:10")


def c_check_npz_wrong_dtype(tmp):
    np.savez(tmp / "samples.npz", ids=np.zeros((2, 5), np.float32))
    return _token_module(tmp, "--inputs", tmp / "samples.npz", "--input", "ids=2,5:int64:0:10")


def c_check_npz_not_an_npz(tmp):
    (tmp / "samples.npz").write_text("not a zip")
    return _token_module(tmp, "--inputs", tmp / "samples.npz")


CASES += [
    (c_check_input_unknown_dtype, 2, "unknown dtype 'int65'"),
    (c_check_input_malformed_shape, 2, "--input takes positive comma-separated integers"),
    (c_check_input_without_name, 2, "--input takes NAME=SHAPE[:DTYPE[:LOW:HIGH]]"),
    (c_check_int_input_without_range, 2, "give the range its values are drawn from"),
    (c_check_dynamic_malformed, 2, "--dynamic takes NAME:AXIS"),
    (c_check_dynamic_unknown_input, 2, "no input is named 'x'"),
    (c_check_npz_missing_a_name, 2, "has no array 'ids'"),
    (c_check_npz_wrong_dtype, 2, "ids is float32 of shape [2, 5], --input says int64"),
    (c_check_npz_not_an_npz, 2, "cannot read it as an .npz of arrays"),
]

# Cases that must pass: a path through a dot-folder once gave "no manifest.json found".
def c_path_with_dot_dot(tmp):
    return ["verify", os.path.relpath(COMMITTED / "mlp" / "torch", tmp), "--providers", "cpu", "--batch-sizes", "1"]


PASSING = [c_path_through_a_dot_folder, c_path_with_dot_dot]


# A case's id is the name it is bound to (cases made by a factory share their __name__).
NAMES = {case: name[2:] for name, case in list(globals().items()) if name.startswith("c_") and callable(case)}


# Cases that need a process of their own, and why; every other case runs in this one (cheaper:
# no interpreter, numpy, onnx and torch start per case), through the same cli.main that
# `python -m xdl` runs.
OWN_PROCESS = {
    # ORT's CPU arena is registered once per process, capped at the --max-memory in force then
    # (limits.session_options): here the first case to run a model would fix the cap for the
    # others, and a 1 GiB cap would stay for every later test in this process.
    c_allocates_from_the_batch,
}


def _in_a_subprocess(args, cwd, env):
    r = subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True,
                       cwd=cwd, timeout=300, env={**os.environ, **env})
    return r.returncode, r.stdout + r.stderr


def _loggers():
    return [logging.root, *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]


@pytest.fixture
def xdl_here(monkeypatch, request):
    """`xdl ARGS` in this process, run in `cwd` with `env` and a user's own modules importable
    from `users`, as a subprocess would run it: a CompletedProcess (exit code, stdout, stderr;
    file descriptors too). Also imported by test_cli.py and test_paths.py.
    What a command may change in the process is put back, so that no case sees another's and no
    other test sees any: the environment (keras sets KERAS_BACKEND), the working folder, sys.path
    (the factory loader adds the working folder), the user's modules, the limits (from flags and
    XDL_* variables), the root logger's handlers, and the stream of a handler made meanwhile
    (torch makes its loggers' handlers when first imported, on the sys.stderr of that moment)."""
    outer = {"stdout": sys.stdout, "stderr": sys.stderr}
    capfd = request.getfixturevalue("capfd")  # after `outer`: those are the streams it replaces

    def run(args, cwd=ROOT, env=None, users=None):
        monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "path", list(sys.path))  # the list as it was is put back afterwards
        if users:
            sys.path.insert(0, str(users))  # what PYTHONPATH=users gives a subprocess
        # the user's modules there or in the working folder (the factory loader imports from it)
        theirs = [Path(p).resolve() for p in (users, cwd) if p and Path(p).resolve() != ROOT]
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(limits, "_current", None)  # read afresh from this case's flags and variables
        environ, modules, handlers = dict(os.environ), set(sys.modules), logging.root.handlers[:]
        arena = limits._arena_registered
        capfd.readouterr()
        try:
            code = cli.main([*map(str, args)])
        except SystemExit as exc:  # argparse's usage errors: what `python -m xdl` exits with
            code = exc.code
        finally:
            for name in set(sys.modules) - modules:  # a later case's usernet.py is not this one's
                file = getattr(sys.modules[name], "__file__", None)
                if file and any(folder in Path(file).resolve().parents for folder in theirs):
                    del sys.modules[name]
            for name in set(os.environ) - set(environ):
                del os.environ[name]
            os.environ.update(environ)
            logging.root.handlers[:] = handlers
            captured = {"stdout": sys.stdout, "stderr": sys.stderr}
            for handler in (h for logger in _loggers() for h in logger.handlers):
                if type(handler) is logging.StreamHandler:
                    for name, stream in captured.items():
                        if handler.stream is stream:
                            handler.setStream(outer[name])
        out, err = capfd.readouterr()
        running = [t.name for t in threading.enumerate() if t.name in ("xdl-ort-run", "xdl-isolated-run")]
        assert not running, f"a model run outlived the command: {running}"
        assert arena or not limits._arena_registered or \
            limits.current().max_memory == limits._memory_cap(limits.DEFAULT_MAX_MEMORY_GB)[0], \
            "the case fixed ORT's arena at its own --max-memory for this whole process: put it in OWN_PROCESS"
        return subprocess.CompletedProcess(args, code, out, err)
    return run


@pytest.mark.timeout(300)  # the bound each case had as a subprocess: a case that hangs fails
@pytest.mark.parametrize("setup,code,phrase", CASES, ids=[NAMES[c[0]] for c in CASES])
def test_bad_input(tmp_path, xdl_here, setup, code, phrase):
    args = setup(tmp_path)
    handed = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()}
    if setup in OWN_PROCESS:
        returncode, out = _in_a_subprocess(args, ROOT, {"PYTHONPATH": str(tmp_path), **ENV.get(setup, {})})
    else:
        r = xdl_here(args, env=ENV.get(setup, {}), users=tmp_path)
        returncode, out = r.returncode, r.stdout + r.stderr
    assert returncode == code, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if phrase in line]
    assert len(lines) == 1, f"expected one line with {phrase!r}:\n{out}"
    assert lines[0].startswith(("xdl: error:", "xdl train: error:", "xdl verify: error:", "xdl parity: error:",
                                "xdl parity steps: error:", "xdl export: error:", "ERROR", "FAIL", "verify:")), lines[0]
    after = {p: p.read_bytes() for p in handed}
    assert after == handed, "the command changed a file it was handed"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("setup", PASSING, ids=[NAMES[c] for c in PASSING])
def test_good_input_in_an_odd_place_passes(tmp_path, xdl_here, setup):
    r = xdl_here(setup(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_corpus_is_at_least_eighty_distinct_cases():
    assert len({c[0] for c in CASES}) >= 80
