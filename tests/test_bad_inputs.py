"""The bad-input corpus: each case runs the real CLI and must give one clear line saying what is
wrong, the documented exit code, no traceback, and leave every file it was handed unchanged.

Artifact cases work on a private copy of the committed mlp artifact; the committed folder's
hashes are checked before and after the whole module.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import COMMITTED, ROOT
from xdl import artifacts


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


def c_symlinked_artifact_file(tmp):
    f = _copy(tmp)
    os.replace(f / "model.onnx", tmp / "real.onnx")
    os.symlink(tmp / "real.onnx", f / "model.onnx")
    return _verify(f)


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
    (c_unwritable_report, 2, "cannot write the report"),
    (c_empty_model, 2, "model.onnx is empty"),
    (c_truncated_model, 2, "changed or truncated"),
    (c_bit_flipped_model, 2, "does not match its sha256"),
    (c_garbage_model_with_matching_hash, 2, "is not an ONNX model"),
    (c_wrong_sha256, 2, "does not match its sha256"),
    (c_manifest_missing, 2, "no manifest.json found"),
    (c_manifest_malformed, 2, "is not valid JSON"),
    (c_wrong_input_name, 1, "I/O names differ from the contract"),
    (c_wrong_input_shape, 2, "onnxruntime rejected the inputs"),
    (c_wrong_input_dtype, 2, "onnxruntime rejected the inputs"),
    (c_wrong_input_rank, 2, "onnxruntime rejected the inputs"),
    (c_nan_inputs, 1, "NaN/Inf positions differ"),
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


@pytest.mark.parametrize("setup,code,phrase", CASES, ids=[c[0].__name__[2:] for c in CASES])
def test_bad_input(tmp_path, setup, code, phrase):
    args = setup(tmp_path)
    handed = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()}
    r = subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True,
                       cwd=ROOT, timeout=600)
    out = r.stdout + r.stderr
    assert r.returncode == code, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if phrase in line]
    assert len(lines) == 1, f"expected one line with {phrase!r}:\n{out}"
    assert lines[0].startswith(("xdl: error:", "xdl train: error:", "ERROR", "FAIL")), lines[0]
    after = {p: p.read_bytes() for p in handed}
    assert after == handed, "the command changed a file it was handed"


def test_the_corpus_is_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) >= 20
