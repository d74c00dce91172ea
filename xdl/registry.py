"""The model registry: name -> ModelSpec, plus lazy access to each model's framework twins.

Importing this module imports only the specs (plain dataclasses), never Keras or PyTorch.
"""

from __future__ import annotations

import importlib

from xdl.errors import InputError
from xdl.spec import ModelSpec

FRAMEWORKS = ("keras", "torch")

# Each entry is a package under xdl/models holding SPEC, keras.py and torch.py.
_MODEL_PACKAGES = ("mlp", "cnn", "textcnn", "lstm", "gru", "tagger", "resnet", "autoencoder", "recommender", "transfer")

_specs: dict[str, ModelSpec] = {}


def _load() -> dict[str, ModelSpec]:
    if not _specs:
        for package in _MODEL_PACKAGES:
            spec = importlib.import_module(f"xdl.models.{package}").SPEC
            _specs[spec.name] = spec
    return _specs


def names() -> list[str]:
    """Returns the registered model names in registration order."""
    return list(_load())


def get(name: str) -> ModelSpec:
    """Returns the spec of a registered model.

    Raises:
        InputError: the name is not registered (the message lists the known ones).
    """
    specs = _load()
    if name not in specs:
        raise InputError(f"unknown model {name!r}; known models: {', '.join(specs)}")
    return specs[name]


def builder(name: str, framework: str):
    """Returns the `build(spec)` function of a model's twin in `framework` (imports it)."""
    get(name)
    if framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; use one of: {', '.join(FRAMEWORKS)}")
    return importlib.import_module(f"xdl.models.{name}.{framework}").build
