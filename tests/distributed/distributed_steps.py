"""K plain-SGD steps of a model (the mlp unless --model says) on several workers, run by tests/distributed/test_distributed.py under each
engine (torchrun; one process with MirroredStrategy; two processes with TF_CONFIG).

Every worker takes its part of each global batch of B samples (rows rank, rank + N, ... as
xdl.data.Shard deals them), the engine combines the gradients, and rank 0 writes the weights and
the per-step losses to --out. The test compares them with one process taking the whole batches.
"""

from __future__ import annotations

import argparse

import numpy as np

from xdl import backends, models
from xdl import data as datasets
from xdl.spec import registry

STEPS, BATCH, LR = 3, 32, 0.05


def global_batches(spec) -> list[tuple[np.ndarray, np.ndarray]]:
    """The same STEPS batches of BATCH real digits for every process and for the reference."""
    data = datasets.load(spec.recipe.dataset, seed=spec.recipe.seed)
    return [(data.x_train[i * BATCH:(i + 1) * BATCH], data.y_train[i * BATCH:(i + 1) * BATCH]) for i in range(STEPS)]


def flat_weights(framework: str, net) -> dict[str, np.ndarray]:
    weights = backends.load(framework).get_weights(net)
    if framework == "torch":
        return weights
    return {f"{layer}/{i}": w for layer, ws in weights.items() for i, w in enumerate(ws)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", required=True)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="mlp")
    args = parser.parse_args()
    spec = registry.get(args.model)
    engine = backends.distributed(args.framework)
    group = engine.join(args.workers)
    net = engine.build(spec, group, models.twin(args.model, args.framework).build)
    backends.load(args.framework).disable_dropout(net)  # dropout masks are random per worker
    parts = [(x[group.rank::group.size], y[group.rank::group.size]) for x, y in global_batches(spec)]
    losses = engine.train_steps(net, spec, parts, group, LR)
    if group.rank == 0:
        np.savez(args.out, losses=np.array(losses), **flat_weights(args.framework, net))
    engine.leave(group)


if __name__ == "__main__":
    main()
