"""The tolerance policy, stale-artifact detection, sweeps, fuzzing, doctor, and properties of the
comparison rule (hypothesis)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from conftest import COMMITTED, ROOT
from xdl import verify, versions
from xdl.errors import InputError
from xdl.manifest import Manifest
from xdl.exporting import staleness, variants
from xdl.parity import live
from xdl.spec import Tolerance, registry, tolerance
from xdl.tools import doctor


def _xdl(*args):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_every_policy_entry_has_a_reason_and_orders_sensibly():
    for dtype, provider, kind, tol in tolerance.table():
        assert tol.reason and 0 < tol.atol < 1 and 0 < tol.rtol < 1, (dtype, provider, kind)
    fp32 = tolerance.tolerance_for("float32", "cpu", "probabilities")
    assert fp32.atol <= tolerance.tolerance_for("float32", "cuda-tf32", "probabilities").atol
    assert fp32.atol <= tolerance.tolerance_for("float16", "cpu", "probabilities").atol
    assert tolerance.tolerance_for("float16", "cpu", "probabilities").atol <= tolerance.tolerance_for("int8", "cpu", "probabilities").atol
    # unbounded outputs get a larger atol than bounded ones, everywhere
    for dtype in ("float32", "float16", "int8"):
        assert tolerance.tolerance_for(dtype, "cpu", "logits").atol > tolerance.tolerance_for(dtype, "cpu", "probabilities").atol


def test_policy_rejects_unknowns_and_honours_overrides():
    with pytest.raises(InputError, match="unknown provider"):
        tolerance.tolerance_for("float32", "tpu", "logits")
    with pytest.raises(InputError, match="unknown output kind"):
        tolerance.tolerance_for("float32", "cpu", "poetry")
    with pytest.raises(InputError, match="unknown dtype"):
        tolerance.tolerance_for("bfloat16", "cpu", "logits")
    override = Tolerance(3e-5, 2e-5, "a model that needs it, with a reason")
    assert tolerance.tolerance_for("float32", "cpu", "logits", override) is override
    # TF32 is a different precision: an fp32 override does not loosen or tighten it
    assert tolerance.tolerance_for("float32", "cuda-tf32", "logits", override) is not override


@pytest.mark.parametrize("model", registry.names())
def test_manifests_record_the_policy(model):
    for framework in registry.FRAMEWORKS:
        m = json.loads((COMMITTED / model / framework / "manifest.json").read_text())
        assert m["tolerance"] == tolerance.manifest_entry(registry.get(model))
        assert m["tolerance"]["policy_version"] == tolerance.POLICY_VERSION


def test_export_check_passes_on_the_committed_artifacts():
    r = _xdl("export", "--check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("up to date") == len(list(COMMITTED.rglob("manifest.json")))
    assert r.stdout.count("up to date") >= 2 * len(registry.names())


def test_export_check_catches_a_stale_artifact(tmp_path):
    shutil.copytree(COMMITTED / "mlp", tmp_path / "mlp")
    folder = tmp_path / "mlp" / "keras"
    m = json.loads((folder / "manifest.json").read_text())
    m["tolerance"]["policy_version"] = 0  # as if exported under an older policy
    (folder / "manifest.json").write_text(json.dumps(m))
    result = staleness.compare_export(folder)
    assert result.status == "stale" and result.exit_code == 1
    assert any("tolerance" in p for p in result.problems)


def test_export_check_says_when_versions_differ(tmp_path):
    shutil.copytree(COMMITTED / "mlp", tmp_path / "mlp")
    folder = tmp_path / "mlp" / "torch"
    m = json.loads((folder / "manifest.json").read_text())
    m["versions"]["torch"] = "1.0.0"
    (folder / "manifest.json").write_text(json.dumps(m))
    result = staleness.compare_export(folder)
    assert result.status == "cannot check" and result.exit_code == 3
    assert "made with torch 1.0.0, this is " in result.problems[0]


@pytest.mark.parametrize("artifact,library", [("mlp/torch-int8", "onnxruntime"), ("mlp/keras-fp16", "onnxconverter-common"),
                                              ("mlp/keras", "tf2onnx"), ("mlp/torch", "onnx-ir")])
def test_export_check_never_calls_an_artifact_stale_under_other_libraries(monkeypatch, artifact, library):
    """The README's unpinned install once got onnxruntime 1.32.0, and `export --check` called the
    int8 variants (made by 1.31.1's quantizer) stale. Every library the bytes depend on counts."""
    recorded = staleness.recorded_versions(Manifest.from_json((COMMITTED / artifact / "manifest.json").read_bytes()))
    assert recorded[library] == versions.installed(library), "the tested set is not installed"
    real = versions.installed
    monkeypatch.setattr(versions, "installed", lambda name: "99.0.0" if name == library else real(name))
    result = staleness.compare_export(COMMITTED / artifact)
    assert result.status == "cannot check" and result.exit_code == 3, result
    assert f"made with {library} {recorded[library]}, this is 99.0.0" in result.problems[0]


def test_every_committed_artifact_records_what_its_bytes_depend_on():
    for path in COMMITTED.rglob("manifest.json"):
        moved, unrecorded = staleness.version_problems(Manifest.from_json(path.read_bytes(), path))
        assert not unrecorded, f"{path}: {unrecorded}"


def test_batch_sweep_and_fuzz(quick):
    report = verify.verify_paths([quick("cnn").out / "cnn"], providers=("cpu",), batch_sizes=(1, 3, 100))
    assert sorted({c.batch_size for c in report.checks}) == [1, 3, 100]  # 100 repeats the 64 stored rows
    assert report.exit_code == 0
    checks = live.verify_live("cnn", out=quick("cnn").out, providers=("cpu",), batch_sizes=(2,), fuzz=5)
    assert sorted({c.batch_size for c in checks}) == [2, 5 + 3 + 3]  # 5 random, 3 edge inputs, 3 unseen samples
    assert all(c.status == "pass" for c in checks)


def test_fuzz_inputs_cover_the_domain_edges():
    x = live.fuzz_inputs(registry.get("cnn"), 4, np.random.default_rng(0))
    assert x.shape == (7, 32, 32, 3) and x.dtype == np.float32
    assert (x[4] == 0).all() and (x[5] == 1).all() and set(np.unique(x[6])) == {0.0, 1.0}
    assert 0 <= x.min() and x.max() <= 1


def test_doctor_reports_versions_providers_and_limits():
    r = _xdl("doctor")
    assert r.returncode == 0, r.stdout
    for word in ("onnxruntime", "tf2onnx", "torch", "providers:", "CUDA:", "opset"):
        assert word in r.stdout
    opset, ir = doctor.ort_limits()
    assert opset >= doctor.REQUIRED_OPSET and ir >= 8


def test_doctor_knows_the_bad_combinations():
    good = doctor.versions()
    assert not [f for f in doctor.findings(good, {}, 21) if f.level == "problem"]
    bad = {**good, "onnxruntime": "1.20.0", "onnxruntime-gpu": "1.20.0", "onnx": "1.16.0", "keras": "2.15.0"}
    messages = " ".join(f.message for f in doctor.findings(bad, {"KERAS_BACKEND": "jax"}, 17) if f.level == "problem")
    for needle in ("onnxruntime-gpu", "onnx 1.16.0", "opset <= 17", "KERAS_BACKEND=jax", "Keras 2"):
        assert needle in messages


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(1, 40), elements=finite))
def test_compare_accepts_what_the_rule_accepts(e):
    atol, rtol = 1e-5, 1e-5
    # a perturbation that is, element-wise, within atol + rtol*|e| (with room for rounding)
    a = (e + 0.5 * (atol + rtol * np.abs(e))).astype(np.float32)
    c = verify.judge(a, e, verify.Criteria(atol, rtol))
    # within tolerance is never a failure: a pass, or "empty" where the reference carries no signal
    empty = verify.compare.no_signal(e.astype(np.float64), verify.Criteria(atol, rtol))
    assert c.verdict == ("empty" if empty else "pass") and c.max_abs <= atol + rtol * float(np.abs(e).max()) + 1e-6
    assert verify.judge(e, e, verify.Criteria(atol, rtol)).max_abs == 0.0


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.integers(2, 40), elements=finite), st.integers(0, 1000))
def test_compare_rejects_one_element_beyond(e, where):
    atol, rtol = 1e-5, 1e-5
    a = e.copy()
    i = where % len(e)
    a[i] = np.float32(e[i] + 3 * (atol + rtol * abs(float(e[i]))) + 1e-4)
    c = verify.judge(a, e, verify.Criteria(atol, rtol))
    assert not c.ok and "1 of" in c.detail


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_ort_matches_native_on_any_input_in_the_domain(quick, n, seed):
    """Random batch sizes and inputs drawn from the declared domain: the torch export of mlp."""
    checks = live.verify_live("mlp", out=quick("mlp").out, providers=("cpu",), batch_sizes=(n,), seed=seed)
    assert all(c.status == "pass" for c in checks)


@pytest.mark.parametrize("variant", ["fp16", "int8", "int8-static"])
def test_variants_are_judged_written_and_reproducible(quick, variant, tmp_path):
    shutil.copytree(quick("mlp", "torch").out / "mlp" / "torch", tmp_path / "mlp" / "torch")  # a copy to add to
    folder, summary = variants.export_variant("mlp", "torch", variant, out=tmp_path)
    assert summary["within_tolerance"] and folder is not None, summary
    assert summary["bytes"] < summary["bytes_fp32"]  # half (fp16) or a quarter (int8) of the weights
    assert summary["speedup_b1"] > 0 and 0 <= summary["test_accuracy"] <= 1
    m = json.loads((folder / "manifest.json").read_text())
    dtype = {"fp16": "float16"}.get(variant, "int8")
    assert m["variant"]["dtype"] == dtype
    assert m["tolerance"]["outputs"]["probs"]["cpu"] == tolerance.tolerance_for(dtype, "cpu", "probabilities").to_json()
    assert m["contract"] == json.loads((tmp_path / "mlp" / "torch" / "manifest.json").read_text())["contract"]
    checks = verify.verify_artifact(folder)
    assert checks and all(c.status == "pass" and c.framework == f"torch-{variant}" for c in checks)
    assert staleness.compare_export(folder).status == "up to date"


def test_a_variant_beyond_its_tolerance_is_not_written(quick, monkeypatch, tmp_path):
    exact = Tolerance(1e-9, 0.0, "stricter than int8 can be")
    monkeypatch.setattr(tolerance, "_INT8", exact)
    shutil.copytree(quick("mlp", "keras").out / "mlp" / "keras", tmp_path / "mlp" / "keras")
    folder, summary = variants.export_variant("mlp", "keras", "int8", out=tmp_path)
    assert folder is None and not summary["within_tolerance"] and "beyond" in summary["detail"]
    assert not (tmp_path / "mlp" / "keras-int8").exists()


def test_a_variant_of_another_base_is_stale(quick, tmp_path):
    shutil.copytree(quick("mlp", "torch").out / "mlp" / "torch", tmp_path / "mlp" / "torch")
    folder, _ = variants.export_variant("mlp", "torch", "fp16", out=tmp_path)
    other = json.loads((folder / "manifest.json").read_text())
    other["variant"]["base_model_sha256"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(other))
    result = staleness.compare_export(folder)
    assert result.status == "stale" and "another" in result.problems[0]
