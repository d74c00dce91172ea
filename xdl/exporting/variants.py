"""Deployment variants of an exported model: float16 and int8, through the established libraries.

- fp16: onnxconverter-common's float16 conversion, keeping float32 inputs and outputs, so the
  contract is unchanged and a deployer can swap files.
- int8: onnxruntime.quantization's dynamic quantization (int8 weights, activations quantized
  per call).
- int8-static: onnxruntime.quantization's static QDQ quantization, calibrated on real training
  samples of the model's data set, weights per channel.

A variant is judged against the float32 model's native outputs under the policy's numbers for
its dtype (xdl/spec/tolerance.py), with its accuracy on the whole test set and its speed-up reported
next to the float32 model. One that misses its tolerance is reported and not written.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from xdl import artifacts, verify
from xdl import versions as lib_versions
from xdl.data import for_model
from xdl.errors import InputError, require
from xdl.manifest import Manifest, Variant
from xdl.spec import registry, tolerance
from xdl.spec.tolerance import VARIANT_DTYPES
from xdl.training import PROVENANCE

VARIANTS = VARIANT_DTYPES  # name -> the policy dtype it is judged by
CALIBRATION_SAMPLES = 256


def make(variant: str, model_bytes: bytes, calibration: np.ndarray | None = None, input_name: str = "x") -> bytes:
    """Converts a float32 model (bytes) to `variant`; `calibration` (contract layout) for int8-static."""
    import onnx

    if variant == "fp16":
        require("onnxconverter_common", "variants")
        from onnxconverter_common import float16

        with warnings.catch_warnings():  # it warns for every weight below float16's range: expected
            warnings.simplefilter("ignore", UserWarning)
            model = float16.convert_float_to_float16(onnx.load_from_string(model_bytes), keep_io_types=True)
        return model.SerializeToString()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # "consider pre-processing"
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "model.onnx", Path(tmp) / "quantized.onnx"
        src.write_bytes(model_bytes)
        if variant == "int8":
            quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
        else:
            class Samples(CalibrationDataReader):
                def __init__(self):
                    self.batches = iter(np.array_split(calibration, max(1, len(calibration) // 32)))

                def get_next(self):
                    batch = next(self.batches, None)
                    return None if batch is None else {input_name: np.ascontiguousarray(batch)}

            quantize_static(src, dst, Samples(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        return dst.read_bytes()


def p50_ms(model_bytes: bytes, x: np.ndarray, input_name: str = "x", reps: int = 100) -> float:
    """Median ORT CPU latency of one call on x (the same session options as xdl verify)."""
    from xdl.timing import measure
    from xdl.verify import session

    sess = session(model_bytes, "cpu")
    return measure(lambda: sess.run(None, {input_name: x}), reps=reps, warmup=10)[0]


def accuracy(model_bytes: bytes, x: np.ndarray, y: np.ndarray, input_name: str = "x") -> float:
    """Top-1 accuracy of a model on (x, y), x in contract layout."""
    from xdl.verify import session

    sess = session(model_bytes, "cpu")
    probs = np.concatenate([sess.run(None, {input_name: x[i : i + 256]})[0] for i in range(0, len(x), 256)])
    return float((probs.argmax(-1) == y).mean())


def export_variant(model: str, framework: str, variant: str, *, out="exported_models", data_dir=None,
                   sign=None) -> tuple[Path | None, dict]:
    """Makes an fp16 or int8 variant of a committed float32 artifact and judges it.

    It is checked against the float32 model's native outputs under the policy's numbers for its
    dtype; its test-set accuracy and its ORT CPU speed-up at batch 1 and 64 are measured next to
    the float32 model's. Only a variant within its tolerance is written, to
    exported_models/<model>/<framework>-<variant>/.

    Returns:
        (the folder, or None when not written; the measurements)
    """
    spec = registry.get(model)
    if spec.metric != "accuracy" or len(spec.contract.inputs) != 1 or spec.contract.inputs[0].dtype != "float32":
        raise InputError(f"variants are made for classifiers of float32 images (their accuracy judges "
                         f"them); {model} is a {spec.task} model")
    if variant not in VARIANTS:
        raise InputError(f"unknown variant {variant!r}; use one of: {', '.join(VARIANTS)}")
    base = artifacts.load(Path(out) / model / framework)  # the float32 artifact, hashes checked
    m = base.manifest
    t, dtype = spec.contract.inputs[0], VARIANTS[variant]
    data = for_model.load(spec, m.dataset, data_dir or None, quick=False)
    model_bytes = make_variant(spec, variant, base.model_bytes, data)

    criteria = verify.policy.for_spec(spec, "cpu", dtype)  # the policy's numbers for the variant's dtype
    checks = verify.run_checks(verify.session(model_bytes, "cpu"), base.inputs, base.outputs, model=model,
                               framework=f"{framework}-{variant}", provider="cpu", criteria=criteria)
    x_test = np.ascontiguousarray(t.to_contract(data.x_test))
    stored = base.inputs[t.name]
    speed = {}
    for n in (1, 64):
        x = np.ascontiguousarray(np.resize(stored, (n, *stored.shape[1:])))
        speed[f"speedup_b{n}"] = p50_ms(base.model_bytes, x, t.name) / p50_ms(model_bytes, x, t.name)
    acc32 = accuracy(base.model_bytes, x_test, data.y_test, t.name)
    acc = accuracy(model_bytes, x_test, data.y_test, t.name)
    summary = {
        "model": model, "framework": framework, "variant": variant, "dtype": dtype,
        "max_abs": max(c.max_abs or 0.0 for c in checks), "tolerance": dict(zip(("atol", "rtol"), criteria[spec.output.name].pair)),
        "within_tolerance": all(c.status == "pass" for c in checks),
        "test_accuracy_fp32": acc32, "test_accuracy": acc, "accuracy_change": acc - acc32,
        **speed, "bytes_fp32": len(base.model_bytes), "bytes": len(model_bytes),
        "detail": "; ".join(c.detail for c in checks if c.detail),
    }
    if not summary["within_tolerance"]:
        return None, summary
    manifest = _manifest(base, spec, variant, dtype, summary)
    folder = artifacts.write(Path(out) / model / f"{framework}-{variant}", model=model_bytes,
                             inputs=list(base.inputs.items()), outputs=list(base.outputs.items()),
                             weights=None, manifest=manifest, sign=sign)
    return folder, summary


def _manifest(base, spec, variant: str, dtype: str, summary: dict) -> Manifest:
    """The variant's manifest: the float32 artifact's contract, versions and provenance, with the
    variant's tolerance, conversion record and measurements."""
    m = base.manifest
    kept = ("model", "framework", "task", "contract", "opset", "versions", *PROVENANCE)  # the rest is the variant's
    return Manifest(**{
        **{k: getattr(m, k) for k in kept},
        "tolerance": tolerance.manifest_entry(spec, dtype),
        # from its JSON form: a calibration of None is written (as null), not left out
        "variant": Variant.from_dict({
            "name": variant, "dtype": dtype, "base_model_sha256": artifacts.sha256_bytes(base.model_bytes),
            "versions": lib_versions.record(variant),
            "calibration": f"first {CALIBRATION_SAMPLES} training samples of {m.dataset}"
            if variant == "int8-static" else None}),
        "metrics": {**m.metrics, **{k: summary[k] for k in ("test_accuracy", "test_accuracy_fp32", "accuracy_change",
                                                              "speedup_b1", "speedup_b64")}},
        "test_data": f"{m.test_data} (the float32 model's native outputs)",
    })


def make_variant(spec, variant: str, base_bytes: bytes, data) -> bytes:
    """The variant's model.onnx: converted from the float32 bytes (int8-static calibrated on the
    first training samples of `data`, which other variants do not need) and tagged in its metadata."""
    import onnx

    t = spec.contract.inputs[0]
    calibration = t.to_contract(data.x_train[: CALIBRATION_SAMPLES]) if variant == "int8-static" else None
    proto = onnx.load_from_string(make(variant, base_bytes, calibration, t.name))
    proto.metadata_props.append(onnx.StringStringEntryProto(key="xdl.variant", value=variant))
    return proto.SerializeToString()
