"""The reference models themselves pass `xdl twin` with no port table where their layers can be
paired: each model's Keras twin and PyTorch twin (with the head Keras keeps in its last layer),
their layers paired by xdl alone. Those that cannot be paired are listed with the reason, and
must pass with their own port table."""

import numpy as np
import pytest

import xdl
from xdl import models
from xdl.models.recommender.port import TABLE
from xdl.port import pairing
from xdl.spec import registry

pytestmark = pytest.mark.timeout(120)

# model: why xdl cannot pair its layers by itself
CANNOT = {
    "recommender": "its global bias is a custom Keras layer (GlobalBias) holding one number, a kind of layer xdl "
                   "has no transform for: its port table names it",
}


def _twins(name: str, head: bool = True):
    """The registered model's two twins, seeded, and a batch of 2 of its inputs (sequences of 8);
    `head`: the PyTorch twin inside the wrapper that adds Keras's output activation (its modules
    then named model.*)."""
    import keras
    import torch

    from xdl.backends import torch as torch_backend

    spec = registry.get(name)
    keras.utils.set_random_seed(0)
    torch.manual_seed(0)
    k = models.build(spec, "keras")
    t = models.build(spec, "torch")
    t = torch_backend.deployable(t, spec) if head else t.eval()
    x = spec.sample(np.random.default_rng(0), 2, 8)
    return spec, k, t, tuple(spec.model_inputs(x))


@pytest.mark.parametrize("name", [n for n in registry.names() if n not in CANNOT])
def test_a_reference_model_is_one_network_without_a_port_table(name):
    spec, k, t, inputs = _twins(name)
    report = xdl.twin(k, t, inputs, kind=spec.output.kind)
    assert report.exit_code == 0, report.render()
    assert report.layers and all(r.how != "port table" for r in report.layers)


def test_the_recommender_is_refused_naming_its_global_bias_and_passes_with_its_port_table():
    spec, k, t, inputs = _twins("recommender", head=False)  # it has none; its table names the twin's modules
    assert spec.head == "none"
    with pytest.raises(pairing.Ambiguous, match="Keras layer 'global_bias' .* holds weights of a kind xdl cannot pair "
                                                "by itself; name it in a port table"):
        xdl.twin(k, t, inputs, kind=spec.output.kind)
    report = xdl.twin(k, t, inputs, kind=spec.output.kind, port_table=TABLE)
    assert report.exit_code == 0, report.render()
    assert {r.how for r in report.layers} == {"port table"}


def test_cannot_lists_registered_models():
    assert set(CANNOT) <= set(registry.names())
