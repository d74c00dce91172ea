"""The registry is complete: every model has both twins, its data sets and committed artifacts."""

import importlib.util
import json

import pytest

from conftest import COMMITTED, ROOT
from xdl import data, models
from xdl.errors import InputError
from xdl.spec import registry, tasks


@pytest.mark.parametrize("model", registry.names())
def test_model_is_complete(model):
    spec = registry.get(model)
    assert spec.name == model
    assert (ROOT / "xdl" / "spec" / "zoo" / f"{model}.py").is_file()
    folder = ROOT / "xdl" / "models" / model
    for framework in registry.FRAMEWORKS:
        assert (folder / f"{framework}.py").is_file(), f"{model} lacks its {framework} twin"
        assert importlib.util.find_spec(f"xdl.models.{model}.{framework}") is not None
    assert spec.recipe.dataset in spec.recipe.datasets
    for name in spec.recipe.datasets:
        assert name in data.names(), f"{model} names unknown data set {name}"
    assert spec.expectations.param_count > 0
    if tasks.get(spec.task).outputs_are_classes:  # the head's width, read from the output's shape
        assert spec.num_classes >= 2
    assert spec.task in tasks.TASKS
    for phase in spec.recipe.phases:
        assert phase.dataset in data.names()
    for framework in registry.FRAMEWORKS:
        manifest = COMMITTED / model / framework / "manifest.json"
        assert manifest.is_file(), f"no committed artifact for {model}/{framework}: run `xdl all`"
        assert json.loads(manifest.read_text())["model"] == model


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InputError) as info:
        registry.get("nosuchmodel")
    message = str(info.value)
    assert "nosuchmodel" in message
    for name in registry.names():
        assert name in message


def test_unknown_framework():
    with pytest.raises(InputError, match="keras, torch"):
        models.twin("mlp", "jax")
