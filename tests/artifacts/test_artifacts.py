"""Artifacts round-trip, are written atomically, and refuse tampering, links and escapes."""

import json
import os

import numpy as np
import onnx
import pytest

from xdl import artifacts, verify
from xdl.errors import EXIT_INPUT, InputError


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _rewrite_entry(folder, relative):
    """Re-hashes one file into the manifest, as a careless (or hostile) editor would."""
    m = _manifest(folder)
    path = folder / relative
    m["files"][relative] = {"sha256": artifacts.sha256_file(path), "bytes": path.stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(m))


def test_round_trip(quick):
    folder = quick("mlp", "keras").out / "mlp" / "keras"
    art = artifacts.load(folder)
    assert art.manifest.model == "mlp" and art.label == "mlp/keras"
    x, probs = art.inputs["x"], art.outputs["probs"]
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32
    assert probs.shape == (64, 10)
    assert set(art.manifest.files) == {
        "model.onnx", "model.weights.h5", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb",
    }
    assert all(c.status == "pass" for c in verify.verify_artifact(folder))


def _only_error(folder):
    checks = verify.verify_artifact(folder)
    assert len(checks) == 1 and checks[0].status == "error", checks
    assert checks[0].exit_code == EXIT_INPUT
    return checks[0].detail


def test_bit_flip_is_caught_by_sha256(artifact_copy):
    folder = artifact_copy()
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "model.onnx").write_bytes(bytes(data))
    assert "sha256" in _only_error(folder)


def test_truncated_model(artifact_copy):
    folder = artifact_copy()
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 3])
    assert "truncated" in _only_error(folder)


def test_corrupt_model_with_matching_hash(artifact_copy):
    folder = artifact_copy()
    (folder / "model.onnx").write_bytes(b"\x08\x07this is not an onnx graph" * 10)
    _rewrite_entry(folder, "model.onnx")
    assert "model.onnx" in _only_error(folder)


def test_empty_model(artifact_copy):
    folder = artifact_copy()
    (folder / "model.onnx").write_bytes(b"")
    _rewrite_entry(folder, "model.onnx")
    assert "model.onnx" in _only_error(folder)


def test_tampered_test_vector(artifact_copy):
    folder = artifact_copy()
    (folder / "test_data_set_0" / "output_0.pb").write_bytes(b"garbage")
    assert "output_0.pb" in _only_error(folder)


@pytest.mark.parametrize("content", ["", "{not json", '{"model": "mlp"}', "[]"])
def test_malformed_manifest(artifact_copy, content):
    folder = artifact_copy()
    (folder / "manifest.json").write_text(content)
    assert "manifest.json" in _only_error(folder)


def test_missing_manifest_fails_the_run(artifact_copy):
    """A folder that looks like an artifact (model.onnx, test vectors) without its manifest was
    once skipped, and the run passed on the others."""
    folder = artifact_copy()
    (folder / "manifest.json").unlink()
    assert artifacts.find([folder.parent]) == [folder]
    assert "manifest.json" in _only_error(folder)


def test_missing_file(artifact_copy):
    folder = artifact_copy()
    (folder / "test_data_set_0" / "input_0.pb").unlink()
    assert "missing" in _only_error(folder)


def test_path_outside_the_artifact_is_refused(artifact_copy, tmp_path):
    folder = artifact_copy()
    m = _manifest(folder)
    m["files"]["../../outside.bin"] = {"sha256": "0" * 64, "bytes": 1}
    (folder / "manifest.json").write_text(json.dumps(m))
    assert "outside the artifact" in _only_error(folder)


def test_symlinked_file_is_refused(artifact_copy, tmp_path):
    folder = artifact_copy()
    real = tmp_path / "elsewhere.onnx"
    os.replace(folder / "model.onnx", real)
    os.symlink(real, folder / "model.onnx")
    assert "symbolic link" in _only_error(folder)


def test_hard_linked_file_is_refused(artifact_copy, tmp_path):
    folder = artifact_copy()
    os.link(folder / "model.onnx", tmp_path / "other-name.onnx")
    assert "hard link" in _only_error(folder)


def test_external_data_reference_is_refused(artifact_copy):
    folder = artifact_copy()
    model = onnx.load(str(folder / "model.onnx"))
    tensor = model.graph.initializer[0]
    tensor.data_location = onnx.TensorProto.EXTERNAL
    del tensor.external_data[:]
    tensor.external_data.add(key="location", value="../../../etc/passwd")
    (folder / "model.onnx").write_bytes(model.SerializeToString())
    _rewrite_entry(folder, "model.onnx")
    assert "external data" in _only_error(folder)


def test_interrupted_write_leaves_the_old_artifact_whole(artifact_copy, monkeypatch):
    folder = artifact_copy()
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    art = artifacts.load(folder)
    model = onnx.load_from_string(art.model_bytes)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # what Ctrl-C halfway through an export looks like

    monkeypatch.setattr(artifacts.shutil, "copyfile", crash)
    with pytest.raises(KeyboardInterrupt):
        artifacts.write(folder, model=model, inputs=[("x", art.inputs["x"][:1])],
                        outputs=[("probs", art.outputs["probs"][:1])],
                        weights=folder / "model.safetensors", manifest={})
    after = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temp folder left


def test_find_rejects_missing_paths(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        artifacts.find([tmp_path / "nope"])
    with pytest.raises(InputError, match="no manifest.json"):
        artifacts.find([tmp_path])
