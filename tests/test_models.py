"""The twins are the same network: equal parameter counts (the spec's), shapes, probabilities."""

import numpy as np
import pytest

from conftest import PAIRS
from xdl import frameworks, registry


@pytest.mark.parametrize("model,framework", PAIRS)
def test_param_count_matches_spec(model, framework):
    spec = registry.get(model)
    fw = frameworks.load(framework)
    assert fw.count_params(fw.build(spec)) == spec.param_count


@pytest.mark.parametrize("model,framework", PAIRS)
def test_forward_shape_and_probabilities(model, framework):
    spec = registry.get(model)
    fw = frameworks.load(framework)
    fw.seed_everything(0)
    net = fw.build(spec)
    x = np.random.default_rng(0).uniform(size=(3, *spec.inputs[0].channels_last_shape)).astype(np.float32)
    probs = fw.predict(net, spec, x)
    assert probs.shape == (3, spec.num_classes)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # Inference is deterministic: dropout must be off outside training.
    np.testing.assert_array_equal(probs, fw.predict(net, spec, x))


@pytest.mark.parametrize("model", registry.names())
def test_seeded_builds_are_reproducible(model):
    spec = registry.get(model)
    for framework in registry.FRAMEWORKS:
        fw = frameworks.load(framework)
        x = np.full((1, *spec.inputs[0].channels_last_shape), 0.5, np.float32)
        outs = []
        for _ in range(2):
            fw.seed_everything(7)
            outs.append(fw.predict(fw.build(spec), spec, x))
        np.testing.assert_array_equal(*outs)
