"""The "keras-on-torch" export route: a Keras twin, saved as a .keras file, loaded on Keras's
torch backend in a child process and exported there by Keras's model.export (which calls
torch.onnx). A process can run only one Keras backend, and xdl's parent process runs
TensorFlow, hence the child.

    python -m xdl.backends.keras_on_torch MODEL.keras OUT.onnx OPSET [MODULE ...]

The MODULEs define the model's own layer classes (its twin's keras.py): the parent names them,
from the classes of the net it was handed, and the child imports them before loading the file.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

from xdl.errors import EnvironmentProblem

CHILD_TIMEOUT_S = 600


def export_in_child(keras_file: Path, onnx_path: Path, opset: int, modules: list[str] = ()) -> None:
    """Runs this module in a child process with KERAS_BACKEND=torch; it imports `modules` (those
    defining the model's own layer classes) before it loads `keras_file`.

    Raises:
        EnvironmentProblem: the child failed (its last line says why) or ran past the timeout.
    """
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run([sys.executable, "-m", __name__, str(keras_file), str(onnx_path), str(opset), *modules],
                              env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise EnvironmentProblem(f"Keras-on-torch export ran past {CHILD_TIMEOUT_S} s") from None
    if done.returncode != 0 or not onnx_path.exists():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise EnvironmentProblem(f"Keras-on-torch export failed: {lines[-1] if lines else done.returncode}")


def _main(keras_file: str, onnx_path: str, opset: str, *modules: str) -> None:
    import keras

    if keras.backend.backend() != "torch":
        raise SystemExit(f"KERAS_BACKEND is {keras.backend.backend()!r}; this route needs 'torch'")
    for module in modules:  # registers the model's own Keras layers (the recommender's GlobalBias)
        importlib.import_module(module)
    model = keras.saving.load_model(keras_file, compile=False)
    signature = [keras.InputSpec(shape=x.shape, dtype=x.dtype, name=x.name) for x in model.inputs]
    model.export(onnx_path, format="onnx", opset_version=int(opset), verbose=False,
                 input_signature=[signature] if len(signature) > 1 else signature)


if __name__ == "__main__":
    _main(*sys.argv[1:])
