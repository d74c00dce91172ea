"""The framework back ends: `Backend` says what each offers, keras.py and torch.py implement it.

Besides the models' own keras.py / torch.py, the back ends are the only modules that import
Keras, TensorFlow or PyTorch (import-linter holds that in CI), and they are imported only when
a command needs them: `load(framework)` imports one and checks its packages are installed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from xdl.errors import InputError, require
from xdl.spec import Contract, ModelSpec
from xdl.spec.registry import FRAMEWORKS

Net = Any  # a keras.Model or a torch.nn.Module: the back end's own network type


class Backend(Protocol):
    """What both back ends offer, with one signature each. Arrays cross the boundary
    channels-last (xdl's stored form; Keras's own layout), outputs leave in contract layout."""

    WEIGHTS_FILE: str  # the weights file name in a run or artifact folder
    EXPORT_ROUTES: tuple[str, ...]  # the routes to ONNX, the shipped one first (docs/routes.md)
    EXPORTERS: dict[str, str]  # each route's exporter as manifests name it
    CHECK_ROUTES: tuple[str, ...]  # the routes xdl check tries on a user's model, in order

    # -- building and training ----------------------------------------------------------------
    def seed_everything(self, seed: int) -> None: ...
    def count_params(self, net: Net) -> int: ...
    def train(self, net: Net, spec: ModelSpec, data, *, epochs: int, checkpoint: Path,
              show_progress: bool = True) -> dict: ...
    def train_steps(self, net: Net, spec: ModelSpec, batches, optimizer: str, lr: float) -> list[float]: ...
    def set_trainable(self, net: Net, names: list[str] | None) -> None: ...
    def reinitialise(self, net: Net, fresh: Net, names: list[str]) -> None: ...
    def disable_dropout(self, net: Net) -> None: ...

    # -- running -----------------------------------------------------------------------------
    def predict(self, net: Net, spec: ModelSpec, x: np.ndarray, batch_size: int = 256) -> np.ndarray: ...
    def activations(self, net: Net, spec: ModelSpec, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]: ...
    def run(self, net: Net, inputs: list[np.ndarray] | dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...
    def flat(self, net: Net, keywords: list[str] | None = None) -> Net: ...
    def timed_paths(self, net: Net, spec: ModelSpec, feeds: dict[str, np.ndarray],
                    compiled: bool = False) -> dict[str, Callable[[], object]]: ...

    # -- weights -----------------------------------------------------------------------------
    def save_weights(self, net: Net, path: Path) -> None: ...
    def load_weights(self, net: Net, path: Path) -> None: ...
    def get_weights(self, net: Net) -> dict: ...
    def set_weights(self, net: Net, weights: dict) -> None: ...
    def part(self, net: Net, name: str) -> Net: ...

    # -- export ------------------------------------------------------------------------------
    def deployable(self, net: Net, spec: ModelSpec) -> Net: ...
    def export(self, net: Net, contract: Contract, opset: int, route: str = ..., example=None): ...
    def versions(self, route: str = ...) -> dict: ...
    def threads(self) -> dict: ...


_NEEDS = {"keras": ("tensorflow", "keras", "tf2onnx", "onnxscript", "rich"), "torch": ("torch", "onnxscript", "safetensors", "rich")}
_EXTRA = {"keras": "tf", "torch": "torch"}


def load(framework: str) -> Backend:
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
    # Plain imports, not by name: import-linter sees them (in a function: only the one asked for loads)
    if framework == "keras":
        from xdl.backends import keras as backend
    else:
        from xdl.backends import torch as backend
    return backend


def distributed(framework: str):
    """The back end's distributed training (torch_distributed.py or keras_distributed.py: the
    same functions, side by side), after `load` has checked the framework is installed."""
    load(framework)
    if framework == "keras":
        from xdl.backends import keras_distributed as spread
    else:
        from xdl.backends import torch_distributed as spread
    return spread


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


def named_outputs(out, leaf: Callable[[Any], Any]) -> dict[str, Any]:
    """A model's outputs, whatever their structure, as named leaves, in the one order both
    back ends export them in (their `flat` nets return these values, in this order):

    - a tensor alone is `output_0`; the items of a tuple or list are `output_0`, `output_1`...
    - the values of a dict (an OrderedDict, transformers' ModelOutput: dict subclasses) are named
      by their keys (`logits`, `out`, `aux`), in the dict's order; None values are left out (a
      ModelOutput's unset fields);
    - anything nested adds `.` and its key or position: `output_1.0`, `aux.0`, `encoder.hidden`.

    `leaf` converts a tensor (to numpy, or keeps it while tracing), or raises TypeError.

    Raises:
        InputError: a leaf that is not a tensor, two outputs with one name, or no output at all.
    """
    named: dict[str, Any] = {}

    def walk(value, path: tuple[str, ...]) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, str(key)))
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                walk(item, (*path, str(i) if path else f"output_{i}"))
        else:
            name = ".".join(path) or "output_0"
            if name in named:
                raise InputError(f"two outputs are named {name!r}; give the model's dict keys other names")
            try:
                named[name] = leaf(value)
            except TypeError:
                raise InputError(f"output {name!r} is a {type(value).__name__}, not a tensor; return tensors "
                                 f"(alone, or in tuples, lists and dicts)") from None
    walk(out, ())
    if not named:
        raise InputError("the model returned no tensor to compare")
    return named
