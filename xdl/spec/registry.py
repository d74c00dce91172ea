"""The model registry: name -> ModelSpec, discovered from the packages under xdl/models.

Adding a model is adding its folder: xdl/models/<name>/ with SPEC in __init__.py, keras.py and
torch.py (each with build(spec)) and port.py. Importing a model's package imports only its spec
(plain dataclasses), never Keras or PyTorch; the twins are imported when one is built.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from xdl.errors import InputError, XdlError
from xdl.spec import ModelSpec

FRAMEWORKS = ("keras", "torch")

_specs: dict[str, ModelSpec] = {}


def _load() -> dict[str, ModelSpec]:
    if not _specs:
        # Found by name, not imported statically: the specs sit below everything that uses
        # them, the model folders (whose twins import the frameworks) above.
        folders = importlib.util.find_spec("xdl.models").submodule_search_locations
        found = []
        for package in pkgutil.iter_modules(folders):
            if not package.ispkg:
                continue
            spec = importlib.import_module(f"xdl.models.{package.name}").SPEC
            if spec.name != package.name:
                raise XdlError(f"xdl/models/{package.name} declares a model named {spec.name!r}: rename one")
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


def twin(name: str, framework: str):
    """Returns the module of a model's twin in `framework` (imports it): its `build(spec)`, and
    for a model whose training is no supervised fit (dqn, gan), its own `train` and `train_steps`."""
    get(name)
    if framework not in FRAMEWORKS:
        raise InputError(f"unknown framework {framework!r}; use one of: {', '.join(FRAMEWORKS)}")
    return importlib.import_module(f"xdl.models.{name}.{framework}")


def builder(name: str, framework: str):
    """Returns the `build(spec)` function of a model's twin in `framework` (imports it)."""
    return twin(name, framework).build
