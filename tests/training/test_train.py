"""Quick training in each framework lowers the loss and writes weights and metrics."""

import json

import numpy as np
import pytest

from conftest import PAIRS
from xdl import backends, models, training
from xdl.data import for_model
from xdl.spec import registry, tasks


def _loss(spec, outputs, data):
    """The task's loss in NumPy on the training set (outputs back in the stored layout)."""
    return tasks.get(spec.task).loss(spec.output.from_contract(outputs), data.x_train, data.y_train)


SUPERVISED = [(m, f) for m, f in PAIRS if not isinstance(tasks.get(registry.get(m).task), tasks.OwnLoop)]
OWN_LOOP = [(m, f) for m, f in PAIRS if isinstance(tasks.get(registry.get(m).task), tasks.OwnLoop)]


@pytest.mark.parametrize("model,framework", SUPERVISED)
def test_quick_training_lowers_the_loss(quick, model, framework):
    spec = registry.get(model)
    fw = backends.load(framework)
    data = for_model.load(spec, spec.recipe.dataset, None, quick=True)

    fw.seed_everything(spec.recipe.seed)  # the same initial weights the training run started from
    before = _loss(spec, fw.predict(models.build(spec, framework), spec, data.x_train), data)
    trained = models.build(spec, framework)
    fw.load_weights(trained, training.run_dir(quick(model, framework).runs, model, framework) / fw.WEIGHTS_FILE)
    after = _loss(spec, fw.predict(trained, spec, data.x_train), data)
    assert after < before, f"{model}/{framework}: loss {before:.4f} -> {after:.4f}"


@pytest.mark.parametrize("model,framework", OWN_LOOP)
def test_quick_training_improves_what_an_own_loop_is_scored_by(quick, model, framework):
    """An agent or a GAN has no loss that must fall (a GAN's two losses pull against each other, a
    TD loss grows with the values it learns): its test metric, computed as the run computes it,
    must be better than the same network's before training (mean return up, Frechet distance down)."""
    spec = registry.get(model)
    fw = backends.load(framework)
    data = for_model.load(spec, spec.recipe.dataset, None, quick=True)
    fw.seed_everything(spec.recipe.seed)
    before = training.score(spec, fw, models.build(spec, framework), data)
    after = quick(model, framework).metrics[model, framework][training.metric_key(spec)]
    assert (after > before) if tasks.get(spec.task).higher_is_better else (after < before), (before, after)


@pytest.mark.parametrize("model,framework", PAIRS)
def test_run_records_metrics(quick, model, framework):
    run = training.run_dir(quick(model, framework).runs, model, framework)
    metrics = json.loads((run / "metrics.json").read_text())
    spec = registry.get(model)
    assert metrics["quick"] is True and metrics["dataset"] == spec.recipe.dataset
    assert metrics["epochs_run"] == len(metrics["history"]["loss"]) >= 1
    value = metrics[training.metric_key(spec)]
    bounded = spec.metric not in ("rmse", "mse", "mean_return", "frechet_distance")  # accuracy, AUC
    assert np.isfinite(value) and value >= 0 and (value <= 1.0 or not bounded)
    assert metrics["train_samples"] == spec.recipe.quick_train_samples
    if spec.recipe.validation_split:
        assert len(metrics["history"]["val_loss"]) == metrics["epochs_run"]


def test_same_split_for_both_frameworks(quick):
    a, b = (json.loads((training.run_dir(quick("cnn").runs, "cnn", f) / "metrics.json").read_text()) for f in ("keras", "torch"))
    for key in ("dataset", "data_source", "train_samples", "test_samples", "seed"):
        assert a[key] == b[key]


@pytest.mark.parametrize("model,framework", PAIRS)
def test_saved_weights_hold_the_model_alone(quick, model, framework):
    """float32 weights (BatchNorm's statistics included) plus the container's overhead, about 2 KiB
    per array in HDF5; an optimizer's slots would double or triple it."""
    spec = registry.get(model)
    fw = backends.load(framework)
    net = models.build(spec, framework)
    arrays = [a for v in fw.get_weights(net).values() for a in (v if isinstance(v, list) else [v])]
    stored = sum(a.size for a in arrays) * 4
    size = (training.run_dir(quick(model, framework).runs, model, framework) / fw.WEIGHTS_FILE).stat().st_size
    assert spec.expectations.param_count * 4 <= size < stored * 1.05 + 64 * 1024 + 2048 * len(arrays)


def test_auc_is_the_rank_probability_with_ties_counted_half():
    from xdl.spec import tasks

    # positives 0.35, 0.8; negatives 0.1, 0.4: 3 of the 4 pairs ranked right
    assert tasks.roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert tasks.roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5  # a tie counts half
    assert np.isnan(tasks.roc_auc(np.array([0.2, 0.9]), np.array([1, 1])))  # no negative: undefined
