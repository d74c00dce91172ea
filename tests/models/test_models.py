"""The twins are the same network: equal parameter counts (the spec's), shapes, probabilities."""

import numpy as np
import pytest

from conftest import PAIRS
from xdl import backends, models
from xdl.spec import registry


@pytest.mark.parametrize("model,framework", PAIRS)
def test_param_count_matches_spec(model, framework):
    spec = registry.get(model)
    fw = backends.load(framework)
    assert fw.count_params(models.build(spec, framework)) == spec.expectations.param_count


@pytest.mark.parametrize("model,framework", PAIRS)
def test_forward_shape_and_range(model, framework):
    spec = registry.get(model)
    fw = backends.load(framework)
    fw.seed_everything(0)
    net = models.build(spec, framework)
    length = spec.expectations.seq_lengths[0] if spec.expectations.seq_lengths else None
    x = spec.sample(np.random.default_rng(0), 3, length)
    out = fw.predict(net, spec, x)
    t = spec.output
    assert out.shape == tuple(3 if i == 0 else length if d is None else d for i, d in enumerate(t.shape))
    assert out.dtype == np.float32
    if t.kind == "probabilities" and t.shape[-1] > 1:
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)
    if t.kind in ("probabilities", "reconstruction"):
        assert 0.0 <= out.min() and out.max() <= 1.0
    # Inference is deterministic: dropout must be off outside training.
    np.testing.assert_array_equal(out, fw.predict(net, spec, x))


@pytest.mark.parametrize("model", registry.names())
def test_seeded_builds_are_reproducible(model):
    spec = registry.get(model)
    for framework in registry.FRAMEWORKS:
        fw = backends.load(framework)
        x = spec.sample(np.random.default_rng(1), 2, spec.expectations.seq_lengths[0] if spec.expectations.seq_lengths else None)
        outs = []
        for _ in range(2):
            fw.seed_everything(7)
            outs.append(fw.predict(models.build(spec, framework), spec, x))
        np.testing.assert_array_equal(*outs)
