"""The twins read the sizes of their data from the spec: given a contract with other images, they
build networks for those images (no 28 * 28 or 7 * 7 * 32 written into a twin)."""

import dataclasses

import numpy as np
import pytest

from xdl import backends, models
from xdl.spec import registry


def _resized(spec, channels: int, height: int, width: int):
    """The spec with every image of its contract (inputs, outputs, parts) made channels x height x width."""
    def image(t):
        if t.layout != "NCHW":
            return t
        return dataclasses.replace(t, shape=(None, channels, height, width))

    def each(contract):
        return dataclasses.replace(contract, inputs=tuple(map(image, contract.inputs)),
                                   outputs=tuple(map(image, contract.outputs)),
                                   parts=tuple((name, each(part)) for name, part in contract.parts))

    return dataclasses.replace(spec, contract=each(spec.contract))


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("model, size", [("mlp", (1, 20, 24)), ("cnn", (3, 36, 40)), ("autoencoder", (1, 32, 36)),
                                         ("gan", (3, 32, 32))])
def test_a_twin_builds_for_the_images_its_spec_names(model, size, framework):
    spec = _resized(registry.get(model), *size)
    fw = backends.load(framework)
    fw.seed_everything(0)
    net = models.build(spec, framework)
    x = spec.sample(np.random.default_rng(0), 2)
    out = fw.predict(net, spec, x)
    want = tuple(2 if d is None else d for d in spec.output.shape)
    assert out.shape == want, (model, framework, out.shape)
    if model == "gan":
        generator = spec.part("generator")
        images = fw.predict(fw.part(net, "generator"), generator, x)
        assert images.shape == (2, *size)
