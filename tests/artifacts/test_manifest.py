"""The typed manifest (xdl.manifest): one reader, one writer, one validation; every committed
manifest reads and writes back byte for byte."""

import dataclasses
import json

import pytest

from conftest import COMMITTED
from xdl import artifacts
from xdl.errors import InputError
from xdl.manifest import Contract, Manifest, Optimisation, Variant

MANIFESTS = sorted(COMMITTED.glob("*/*/manifest.json"))


@pytest.mark.parametrize("path", MANIFESTS, ids=[f"{p.parent.parent.name}/{p.parent.name}" for p in MANIFESTS])
def test_every_committed_manifest_writes_back_byte_for_byte(path):
    raw = path.read_bytes()
    manifest = Manifest.from_json(raw, path)
    assert manifest.to_json().encode() == raw
    assert manifest.to_dict() == json.loads(raw)
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_the_committed_manifests_are_all_there():
    assert len(MANIFESTS) >= 40


def test_parts_are_typed():
    m = artifacts.read_manifest(COMMITTED / "mlp" / "keras-int8-static")
    assert isinstance(m.contract, Contract) and m.contract.inputs[0].name == "x"
    assert m.contract.inputs[0].shape == (None, 1, 28, 28)
    assert isinstance(m.variant, Variant) and m.variant.name == "int8-static" and m.flavour == "keras-int8-static"
    assert m.files["model.onnx"].bytes > 0 and len(m.files["model.onnx"].sha256) == 64
    base = artifacts.read_manifest(COMMITTED / "mlp" / "keras")
    assert isinstance(base.optimisation, Optimisation) and base.optimisation.enabled is True
    assert base.variant is None and base.part is None and base.flavour == "keras"


def test_unknown_keys_and_nulls_are_kept():
    data = json.loads((COMMITTED / "mlp" / "torch" / "manifest.json").read_text())
    data["from_the_future"] = {"a": [1, 2.5, None]}
    data["part"] = None
    data["contract"]["inputs"][0]["colour"] = "blue"
    data["files"]["model.onnx"]["signed_by"] = "someone"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    m = Manifest.from_json(text)
    assert m.extra["from_the_future"] == {"a": [1, 2.5, None]} and m.part is None
    assert m.to_json() == text
    assert m.replace(tag="x").extra["tag"] == "x"  # an unknown name goes to extra


def test_a_variants_null_calibration_is_written():
    v = Variant.from_dict({"name": "fp16", "dtype": "float16", "calibration": None})
    assert v.calibration is None and v.to_dict() == {"name": "fp16", "dtype": "float16", "calibration": None}


def test_fields_are_frozen_and_replace_makes_a_copy():
    m = artifacts.read_manifest(COMMITTED / "mlp" / "torch")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.model = "other"
    assert dataclasses.replace(m, part="decoder").flavour == "torch-decoder" and m.part is None


@pytest.mark.parametrize("change, message", [
    (lambda m: m.pop("files"), "lacks one of manifest_version, model, framework, contract, tolerance, files"),
    (lambda m: m.update(manifest_version=2), "has manifest_version 2; this xdl reads 1"),
    (lambda m: m.update(model=""), "'model' is not a short non-empty string"),
    (lambda m: m.update(variant="fp16"), "'variant' has the wrong type"),
    (lambda m: m.update(variant={"dtype": "float16"}), "'variant' has no name"),
    (lambda m: m["contract"]["outputs"][0].update(shape=[0, 10]), "contract.outputs[0].shape [0, 10] is not"),
    (lambda m: m["contract"]["outputs"][0].update(dtype="str"), "contract.outputs[0].dtype 'str' is not one of"),
    (lambda m: m["contract"]["outputs"][0].update(name="x"), "contract names a tensor twice"),
    (lambda m: m["files"].update({"model.onnx": {"sha256": "0"}}), "files['model.onnx'] lacks a sha256"),
    (lambda m: m.update(tolerance=[]), "'tolerance' [] is not an object holding 'outputs'"),
    (lambda m: m.update(tolerance={}), "'tolerance' {} is not an object holding 'outputs'"),
    (lambda m: m.update(framework="jax"), "'framework' 'jax' is not one of keras, torch"),
    (lambda m: m.update(framework="torch-int8"), "'framework' 'torch-int8' is not one of keras, torch"),
    (lambda m: m.update(task="nosuchtask"), "'task' 'nosuchtask' is not one of binary, classification, control"),
    (lambda m: m.update(task=["classification"]), "'task' ['classification'] is not one of"),
    (lambda m: m.update(opset="18"), "'opset' '18' is not an ONNX opset: a positive integer, such as 18"),
    (lambda m: m.update(opset=True), "'opset' True is not an ONNX opset"),
])
def test_validation(change, message):
    data = json.loads((COMMITTED / "mlp" / "torch" / "manifest.json").read_text())
    change(data)
    with pytest.raises(InputError, match="^where.json") as exc:
        Manifest.from_json(json.dumps(data), "where.json")
    assert message in str(exc.value)


def test_not_json():
    with pytest.raises(InputError, match=r"^m.json is not valid JSON \(.*\); re-run `xdl export`"):
        Manifest.from_json(b"{", "m.json")
    with pytest.raises(InputError, match="is not valid JSON"):
        Manifest.from_json(b"\xff")


VARIANTS = sorted(p.parent for p in MANIFESTS if "variant" in json.loads(p.read_text()))


@pytest.mark.parametrize("folder", VARIANTS, ids=[f"{p.parent.name}/{p.name}" for p in VARIANTS])
def test_the_variant_writer_writes_the_committed_manifest(folder):
    """exporting.variants' manifest, from the committed float32 artifact and the measurements the
    committed variant records, is the committed manifest byte for byte (but the float32 model's
    versions, which a later `export --refresh` of it may have added to)."""
    from xdl.exporting import variants
    from xdl.spec import registry

    committed = artifacts.read_manifest(folder)
    base = artifacts.load(folder.parent / committed.framework)
    made = variants._manifest(base, registry.get(committed.model), committed.variant.name, committed.variant.dtype,
                              committed.metrics)
    made = made.replace(files=committed.files, versions=committed.versions)
    assert made.to_json() == (folder / "manifest.json").read_text()
