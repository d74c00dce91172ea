"""The model registry: name -> ModelSpec, discovered from the modules of xdl.spec.zoo.

Adding a model is adding its spec, xdl/spec/zoo/<name>.py with SPEC, and its folder,
xdl/models/<name>/ with keras.py and torch.py (each with build(spec)) and port.py. The registry
imports only the specs (plain dataclasses, within xdl.spec), never a twin: the lookups of a
model's twins and port table by name are xdl.models' (xdl.models.twin, xdl.models.port_table).
"""

from __future__ import annotations

import importlib
import pkgutil

from xdl.errors import InputError, XdlError
from xdl.spec import ModelSpec, zoo

FRAMEWORKS = ("keras", "torch")

_specs: dict[str, ModelSpec] = {}


def _load() -> dict[str, ModelSpec]:
    if not _specs:
        found = []
        for module in pkgutil.iter_modules(zoo.__path__):
            spec = importlib.import_module(f"xdl.spec.zoo.{module.name}").SPEC
            if spec.name != module.name:
                raise XdlError(f"xdl/spec/zoo/{module.name}.py declares a model named {spec.name!r}: rename one")
            found.append(spec)
        for spec in sorted(found, key=lambda s: (s.lesson.tutorial, s.name)):
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

