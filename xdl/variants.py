"""Deployment variants of an exported model: float16 and int8, through the established libraries.

- fp16: onnxconverter-common's float16 conversion, keeping float32 inputs and outputs, so the
  contract is unchanged and a deployer can swap files.
- int8: onnxruntime.quantization's dynamic quantization (int8 weights, activations quantized
  per call).
- int8-static: onnxruntime.quantization's static QDQ quantization, calibrated on real training
  samples of the model's data set, weights per channel.

A variant is judged against the float32 model's native outputs under the policy's numbers for
its dtype (xdl/tolerance.py), with its accuracy on the whole test set and its speed-up reported
next to the float32 model. One that misses its tolerance is reported and not written.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np

from xdl.errors import require
from xdl.tolerance import VARIANT_DTYPES

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
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

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
