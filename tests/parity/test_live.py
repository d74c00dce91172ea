"""Live parity draws unseen test samples, not noise: a trained classifier answers noise with one
class, every row alike, and a comparison on rows alike proves nothing (an EMPTY verdict)."""

import numpy as np

from xdl.exporting import TEST_BATCH
from xdl.parity import live
from xdl.spec import registry


def test_live_batches_are_unseen_test_samples_where_their_shape_fits():
    spec = registry.get("tagger")  # a dynamic length: the data set's own, and others it lacks
    unseen = live.unseen_samples(spec)
    trained_length = unseen.shape[1]
    assert trained_length in spec.expectations.seq_lengths and len(unseen) > 64
    rows = {r.tobytes() for r in unseen}
    batches = live.live_batches(spec, np.random.default_rng(0), (2, 7), fuzz=4, unseen=unseen)
    for x in batches:
        from_data = [r.tobytes() in rows for r in x]
        if x.shape[1] == trained_length and len(x) in (2, 7):
            assert all(from_data)
        elif x.shape[1] == trained_length:  # the fuzz batch: 4 random, 3 edges, then 3 unseen samples
            assert len(x) == 4 + 3 + 3 and all(from_data[-3:]) and not any(from_data[:-3])
        else:  # no sample has this length: drawn from the declared domain
            assert not any(from_data)


def test_unseen_samples_leave_out_the_test_vectors():
    spec = registry.get("mlp")
    from xdl.data import for_model

    x_test = for_model.load(spec, spec.recipe.dataset, None, quick=False, check_allowed=False).x_test
    np.testing.assert_array_equal(live.unseen_samples(spec), x_test[TEST_BATCH:])


def test_committed_classifiers_pass_live_checks_not_empty():
    """transfer's twins gave every noise input the same class: `xdl verify --live transfer` said
    EMPTY (exit 3) for a sound model until the batches were real samples."""
    checks = live.verify_live("transfer", providers=("cpu",), batch_sizes=(7,), fuzz=2)
    assert checks and all(c.status == "pass" for c in checks), [c for c in checks if c.status != "pass"]
