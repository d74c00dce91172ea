"""The reference zoo's twins: one package per model, each with keras.py and torch.py (the twins,
each with build(spec)) and port.py (the weight map and the layers `xdl diff` compares); the
specs are below, in xdl.spec.zoo.

The lookups of a model's twin and port table by name live here, at the models' layer: the stages
above call them, and hand what they get to the layers below (a back end trains the net it is
given; the port engine applies the table it is given), which never look a model's code up.
"""

from __future__ import annotations

import importlib

from xdl import backends
from xdl.errors import InputError
from xdl.spec import registry


def twin(name: str, framework: str):
    """Returns the module of a registered model's twin in `framework` (imports it): its
    `build(spec)`, and for a model whose training is no supervised fit (dqn, gan), its own
    `train` and `train_steps`.

    Raises:
        InputError: the model or the framework is unknown.
        EnvironmentProblem: the framework's packages are not installed.
    """
    registry.get(name)
    backends.load(framework)  # checks the name and readies the framework before a twin imports it
    return importlib.import_module(f"xdl.models.{name}.{framework}")


def build(spec, framework: str):
    """A new, untrained net of `spec`'s twin in `framework` (Keras: probabilities out; PyTorch:
    logits out, see the back end's deployable)."""
    return twin(spec.name, framework).build(spec)


def _port(name: str):
    try:
        return importlib.import_module(f"xdl.models.{name}.port")
    except ModuleNotFoundError:
        raise InputError(f"{name} has no port table (xdl/models/{name}/port.py)") from None


def port_table(name: str) -> list:
    """The port table of a registered model (xdl/models/<name>/port.py): its xdl.port.engine.Rules.

    Raises:
        InputError: the model has no port table.
    """
    return list(_port(name).TABLE)


def taps(name: str) -> list[tuple]:
    """Where `xdl diff` compares the twins: (Keras layer, PyTorch module, Keras layout), in
    order; the layout is "NHWC", "NWC" (a sequence, channels last), an (h, w, c) tuple for a
    flattened image, or None."""
    return list(_port(name).TAPS)
