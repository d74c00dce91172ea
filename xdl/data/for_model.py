"""A data set shaped for one model: the spec's data sets only, its samples of the contract's
shape, its ids within the model's tables, sequences cut to the recipe's length, and the quick
subset that CI trains on."""

from __future__ import annotations

import numpy as np

from xdl import data as datasets
from xdl.data import cartpole
from xdl.errors import InputError
from xdl.spec import tasks

# The environments an agent may play in (Recipe.environment): each module gives make, run,
# transitions, greedy_episodes and mean_return.
ENVIRONMENTS = {"cartpole": cartpole}

QUICK_TEST_SAMPLES = 256


def _stored_shape(spec) -> tuple:
    """Per-sample shape of a data set's x for this model (None: any length)."""
    if len(spec.contract.inputs) == 1:
        return spec.contract.inputs[0].channels_last_shape
    # One column per input: a recommender's user and item ids (n, 2), a similarity model's two
    # sentences (n, 2, length). Inputs stored together share a per-sample shape.
    shapes = {t.channels_last_shape for t in spec.contract.inputs}
    if len(shapes) != 1:
        raise ValueError(f"{spec.name}: inputs of different shapes cannot be stored as columns of one array")
    return (len(spec.contract.inputs), *shapes.pop())


def load(spec, dataset: str, data_dir, quick: bool, check_allowed: bool = True, shard: datasets.Shard | None = None):
    """The spec's data set `dataset` for the model; with `shard`, one distributed worker's part
    (xdl.data.Shard), whose quick subset is its share of the quick one."""
    if check_allowed and dataset not in spec.recipe.datasets:
        raise InputError(
            f"{spec.name} cannot train on {dataset!r}; use one of: {', '.join(spec.recipe.datasets)}"
        )
    data = datasets.load(
        dataset, data_dir=data_dir, seed=spec.recipe.seed, validation_split=spec.recipe.validation_split, shard=shard
    )
    if spec.recipe.max_length:
        cut = spec.recipe.max_length
        for split in ("train", "val", "test"):
            setattr(data, f"x_{split}", getattr(data, f"x_{split}")[..., -cut:])  # keep each sequence's end
        data.source += f", cut to the last {cut} tokens"
    task = tasks.get(spec.task)
    # What the data set's samples must be: the inputs, or what the task makes them from (a
    # generator's data set holds what it must learn to draw: images of its output's shape).
    want = task.data_shape(spec) or _stored_shape(spec)
    got = data.x_train.shape[1:]
    fits = len(want) == len(got) and all(w is None or w == g for w, g in zip(want, got))
    if not fits or (task.outputs_are_classes and data.num_classes > spec.num_classes):
        raise InputError(
            f"data set {dataset!r} has samples {got} and {data.num_classes} "
            f"classes; {spec.name} takes {want} and {spec.num_classes}"
        )
    _check_domain(spec, data)
    data = task.prepare(spec, data)  # a generator's: noise in, the real images as targets
    if quick:
        data = data.subset(spec.recipe.quick_train_samples // (shard.count if shard else 1), QUICK_TEST_SAMPLES)
    return data


def _check_domain(spec, data) -> None:
    """Every id within the model's tables: a token, user or item id past the vocabulary would fail
    deep inside a framework. (Float domains say where fresh test inputs are drawn, not a bound:
    MNIST-1D's values pass gru's +-4; their finiteness is checked by xdl.data.)"""
    for split in ("train", "val", "test"):
        x = getattr(data, f"x_{split}")
        columns = [x] if len(spec.contract.inputs) == 1 else [x[:, i] for i in range(len(spec.contract.inputs))]
        for t, column in zip(spec.contract.inputs, columns):
            low, high = t.domain
            if not len(column) or not np.issubdtype(np.dtype(t.dtype), np.integer):
                continue
            if column.min() < low or column.max() >= high:
                raise InputError(f"data set {data.name!r} has {t.name} ids from {column.min():g} to {column.max():g}; "
                                 f"{spec.name} takes {low:g} <= id < {high:g}: the data set is not for this model "
                                 f"or its files are damaged")


def environment(spec):
    """The module of the environment the spec's agent plays in (Recipe.environment), or None."""
    if not spec.recipe.environment:
        return None
    if spec.recipe.environment not in ENVIRONMENTS:
        raise InputError(f"{spec.name} plays in {spec.recipe.environment!r}, which xdl does not know; known: "
                         f"{', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[spec.recipe.environment]
