"""What a model is trained to do, stated once for both frameworks: targets, loss and test metric.

Each task names its Keras loss and the PyTorch loss that computes the same number, and the
head that sits outside the PyTorch twin (PyTorch's fused losses take logits, so softmax and
sigmoid are added only for inference and export; Keras keeps them in its last layer).

The metrics are computed here, in NumPy, on the outputs both twins (and ONNX Runtime) produce,
so a "test AUC 0.93" means the same computation whichever framework trained the model.
Importing this module imports NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Task:
    name: str
    head: str  # added to the PyTorch twin for inference/export: "softmax" | "sigmoid" | "none"
    keras_loss: str  # the loss string compile() takes
    torch_loss: str  # the torch.nn loss class computing the same number on the twin's raw outputs
    metric: str  # what the test set is scored by (see score())
    higher_is_better: bool
    train_accuracy: bool  # whether both frameworks report an accuracy per epoch beside the loss
    # Trained by the twins' own loops (xdl/models/<name>/{keras,torch}.py: train, train_steps), not
    # by the back ends' supervised fit: an agent playing, a generator against a discriminator.
    own_loop: bool = False


TASKS = {
    # Integer labels with the sparse loss: the same numbers as one-hot labels with
    # categorical_crossentropy, and the same label arrays PyTorch's CrossEntropyLoss takes.
    "classification": Task("classification", "softmax", "sparse_categorical_crossentropy",
                           "CrossEntropyLoss", "accuracy", True, True),
    # One sigmoid unit: P(positive). BCEWithLogitsLoss fuses the sigmoid for stability.
    "binary": Task("binary", "sigmoid", "binary_crossentropy", "BCEWithLogitsLoss", "auc", True, True),
    # A class per token: the same loss as classification, over (batch, time) labels.
    "tagging": Task("tagging", "softmax", "sparse_categorical_crossentropy", "CrossEntropyLoss",
                    "token_accuracy", True, True),
    "regression": Task("regression", "none", "mean_squared_error", "MSELoss", "rmse", False, False),
    # The input is the target: mean squared error per pixel.
    "reconstruction": Task("reconstruction", "none", "mean_squared_error", "MSELoss", "mse", False, False),
    # Q-values learnt by deep Q-learning: a Huber loss on temporal-difference errors, in each
    # twin's own update (xdl/models/dqn); scored by playing, not on stored samples: the mean return
    # of greedy episodes (xdl.data.cartpole.mean_return).
    # A generator against a discriminator, each with binary cross-entropy on probabilities, in the
    # twins' own alternating updates (xdl/models/gan); scored on the generator's images: their
    # Frechet distance to the real test images (frechet_distance).
    "generation": Task("generation", "none", "binary_crossentropy", "BCELoss", "frechet_distance", False, False,
                       own_loop=True),
    "control": Task("control", "none", "huber", "HuberLoss", "mean_return", True, False, own_loop=True),
}


def get(name: str) -> Task:
    return TASKS[name]


def targets(task: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """What the loss compares the model's output with, identical for both frameworks."""
    if task == "reconstruction":
        return x
    if task in ("binary", "regression"):
        return y.astype(np.float32).reshape(-1, 1)  # the model's (batch, 1) output shape
    return y


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn's roc_auc_score): the probability that a random
    positive outranks a random negative, ties counted half. NaN when one class is absent, where
    scikit-learn raises."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).ravel().astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores, np.float64).ravel()))


FRECHET_COMPONENTS = 20


def frechet_distance(generated: np.ndarray, real: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to generated and real images, in a fixed
    feature space: the first 20 principal components of the real images (FID's formula, with PCA
    where FID uses an Inception network; nothing to download, the same space for both twins).
    0 for identical distributions; it grows with a shifted mean (wrong strokes) and with a
    covariance that is too small (too little variety: a generator that always draws one digit)."""
    from scipy import linalg

    real = real.reshape(len(real), -1).astype(np.float64)
    generated = generated.reshape(len(generated), -1).astype(np.float64)
    centre = real.mean(axis=0)
    basis = np.linalg.svd(real - centre, full_matrices=False)[2][:FRECHET_COMPONENTS]
    a, b = (real - centre) @ basis.T, (generated - centre) @ basis.T
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real  # tiny imaginary parts are rounding
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def score(task: str, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """The task's test metric of `outputs` (the inference model's, contract layout)."""
    if task == "classification":
        return float((outputs.argmax(-1) == y).mean())
    if task == "binary":
        return roc_auc(outputs, y)
    if task == "tagging":
        real = x != 0  # token id 0 is padding: scoring it would reward predicting padding
        return float((outputs.argmax(-1) == y)[real].mean())
    if task == "regression":
        return float(np.sqrt(np.mean((outputs.ravel() - y.ravel()) ** 2)))
    if task == "reconstruction":
        return float(np.mean((outputs.reshape(len(x), -1) - x.reshape(len(x), -1)) ** 2))
    if task == "generation":  # outputs: generated images; y: the real ones (xdl.data.for_model)
        return frechet_distance(outputs, y)
    raise KeyError(f"task {task!r} is scored by playing episodes, not from outputs")


def loss(task: str, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """The task's training loss computed in NumPy on the inference outputs (probabilities,
    values), for checking training from outside either framework."""
    t = targets(task, x, y)
    if task in ("classification", "tagging"):
        p = np.take_along_axis(outputs, t[..., None].astype(np.int64), axis=-1)
        return float(-np.log(np.clip(p, 1e-12, None)).mean())
    if task == "binary":
        p = np.clip(outputs, 1e-7, 1 - 1e-7)
        return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())
    return float(np.mean((outputs.reshape(t.shape) - t) ** 2))


def meets(task: str, value: float, goal: float) -> bool:
    """Whether a test metric reaches a spec's goal (a floor for accuracy/AUC, a ceiling for errors)."""
    return value >= goal if get(task).higher_is_better else value <= goal
