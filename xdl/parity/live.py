"""Live parity: the native twins and their exports run on fresh inputs they have never seen, at
several batch sizes and sequence lengths, and on fuzzed inputs with the domain's edge values.

Fresh inputs are the data set's test samples that no test vector holds, where the samples have
the batch's shape: a trained classifier answers uniform noise with one confident class, every
row alike, and a comparison on rows alike proves nothing (xdl.verify.signal). Where no sample
has the shape (a sequence length the data set does not have), they are drawn from the declared
domain."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xdl import artifacts, backends, limits, models, verify
from xdl.data import for_model
from xdl.errors import XdlError
from xdl.exporting import TEST_BATCH
from xdl.spec import registry

LIVE_BATCH_SIZES = verify.DEFAULT_BATCH_SIZES


def fuzz_inputs(spec, n: int, rng, length: int | None = None) -> np.ndarray:
    """n random inputs (stored form) drawn uniformly from each input's declared domain, then
    the edge cases: all at the domain's low end, all at its high end (the largest id, for
    integer inputs), and a checkerboard of the two."""
    def edges(t):
        shape = tuple(length if d is None else d for d in t.channels_last_shape)
        low, high = t.domain
        if np.issubdtype(np.dtype(t.dtype), np.integer):
            high = high - 1  # integer domains exclude their high end, like range()
        checker = np.indices(shape).sum(axis=0) % 2 * (high - low) + low
        return np.stack([np.full(shape, low), np.full(shape, high), checker]).astype(t.dtype)

    arrays = [np.concatenate([t.sample(rng, n, length), edges(t)]) for t in spec.contract.inputs]
    return arrays[0] if len(arrays) == 1 else np.stack(arrays, axis=1)


def unseen_samples(spec) -> np.ndarray:
    """The test samples of the spec's data set that its test vectors do not hold (stored form)."""
    return for_model.load(spec, spec.recipe.dataset, None, quick=False, check_allowed=False).x_test[TEST_BATCH:]


def _draw(spec, rng, n: int, length: int | None, unseen: np.ndarray | None) -> np.ndarray:
    """n inputs of one shape: rows of `unseen` where they have it, else drawn from the domain."""
    fresh = spec.sample(rng, n, length)
    if unseen is None or not len(unseen) or unseen.shape[1:] != fresh.shape[1:]:
        return fresh
    return unseen[rng.choice(len(unseen), n, replace=n > len(unseen))]


def live_batches(spec, rng, batch_sizes, fuzz: int = 0, unseen: np.ndarray | None = None) -> list[np.ndarray]:
    """Fresh stored-form inputs: one batch per size (at each of the spec's sequence lengths,
    for a model whose length is dynamic), from `unseen` samples where they fit; then `fuzz`
    random inputs plus the edge cases, with three unseen samples beside them, so that a batch
    whose noise and edges all get one answer still compares outputs that differ."""
    lengths = spec.expectations.seq_lengths or (None,)
    batches = [_draw(spec, rng, n, length, unseen) for length in lengths for n in batch_sizes]
    if fuzz:
        batches += [np.concatenate([fuzz_inputs(spec, fuzz, rng, length), _draw(spec, rng, 3, length, unseen)])
                    for length in lengths]
    return batches


def verify_live(model: str, *, out="exported_models", providers=("cpu",), required=(),
                batch_sizes=LIVE_BATCH_SIZES, fuzz: int = 0, seed: int = 12345) -> list[verify.Check]:
    """Re-runs the native twins and their exports on fresh inputs at several batch sizes (and
    sequence lengths), and on `fuzz` random inputs plus the domain's edge values.

    The inputs are test samples the stored test vectors do not hold (drawn from each input's
    declared domain where none has the batch's shape), new to the model and to the vectors.
    """
    spec = registry.get(model)
    rng = np.random.default_rng(seed)
    unseen = unseen_samples(spec)
    one = spec.sample(rng, 1, max(spec.expectations.seq_lengths or (1,)))
    for n in (*batch_sizes, fuzz + 3 if fuzz else 0):  # inputs, and outputs of about their size, kept twice
        limits.check_bytes(4.0 * one.nbytes * n, f"--fuzz {fuzz}" if n == fuzz + 3 else f"batch size {n}")
    checks: list[verify.Check] = []
    for framework in registry.FRAMEWORKS:
        folder = Path(out) / model / framework
        try:
            art = artifacts.load(folder)
        except XdlError as exc:
            checks.append(verify.Check(model, framework, "-", "error", detail=str(exc), exit_code=exc.exit_code))
            continue
        fw = backends.load(framework)
        net = models.build(spec, framework)
        with art.held(fw.WEIGHTS_FILE) as weights:  # the bytes hashed, not the path read again
            fw.load_weights(net, weights)
        for provider in verify.providers_to_check(providers, required):
            sess, why_not = verify.open_session(art.model_bytes, provider, required, model=model, framework=framework)
            if why_not:
                checks.append(why_not)
                continue
            criteria = verify.policy.for_manifest(art.manifest, provider)  # the NaN the spec allows, too
            for x in live_batches(spec, rng, batch_sizes, fuzz, unseen):
                checks += verify.run_checks(
                    sess, spec.feeds(x), {spec.output.name: fw.predict(net, spec, x)},
                    model=model, framework=framework, provider=provider, criteria=criteria,
                )
    return checks
