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
    "control": Task("control", "none", "huber", "HuberLoss", "mean_return", True, False),
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
