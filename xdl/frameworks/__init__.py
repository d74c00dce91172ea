"""The framework back-ends. Each module offers the same functions for its framework:

    seed_everything(seed), build(spec), count_params(model), train(...), predict(...),
    save_weights(model, path), load_weights(model, path), export_onnx(model, spec, opset),
    versions(), WEIGHTS_FILE

Besides the models' own keras.py / torch.py, these are the only modules that import Keras,
TensorFlow or PyTorch, and they are imported only when a command needs them.
"""

from __future__ import annotations

import contextlib
import importlib

from xdl.errors import InputError, require
from xdl.registry import FRAMEWORKS

_NEEDS = {"keras": ("tensorflow", "keras", "tf2onnx", "rich"), "torch": ("torch", "onnxscript", "safetensors", "rich")}
_EXTRA = {"keras": "tf", "torch": "torch"}


def load(framework: str):
    """Imports and returns the back-end module of `framework`.

    Raises:
        InputError: unknown framework name.
        EnvironmentProblem: the framework's packages are not installed.
    """
    if framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; use one of: {', '.join(FRAMEWORKS)}")
    if framework == "keras":
        _prepare_keras_environment()
    with quiet_tensorflow_import() if framework == "keras" else contextlib.nullcontext():
        for module in _NEEDS[framework]:
            require(module, _EXTRA[framework])
    return importlib.import_module(f"xdl.frameworks.{framework}")


@contextlib.contextmanager
def quiet_tensorflow_import():
    """Closes stderr while TensorFlow loads: it announces its oneDNN kernels there (on CPUs with
    AVX-512 VNNI), past TF_CPP_MIN_LOG_LEVEL, and an error that should be one line got four
    more. With XDL_DEBUG set, everything TensorFlow says is shown."""
    import os
    import sys

    if os.environ.get("XDL_DEBUG", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _prepare_keras_environment() -> None:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    # The Keras export goes through tf2onnx, which needs Keras running on TensorFlow.
    backend = os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if backend != "tensorflow":
        from xdl.errors import EnvironmentProblem

        raise EnvironmentProblem(
            f"KERAS_BACKEND is {backend!r}; xdl's Keras twins need 'tensorflow': unset it"
        )
