"""Framework-neutral descriptions of a model: its ONNX contract, training recipe and tolerance.

A `ModelSpec` is the single source of truth for one reference model. The Keras twin, the PyTorch
twin, the exporters, the tests and the verifier all read their numbers from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the ONNX contract, identical for both exports of a model."""

    name: str  # the ONNX graph input/output name a deployer feeds or reads
    shape: tuple[int | None, ...]  # contract shape; None marks a dynamic dim (the batch)
    dtype: str = "float32"  # numpy dtype name of the tensor
    layout: str = ""  # "NCHW" for images (the ONNX convention); "" where layout means nothing
    domain: tuple[float, float] = (0.0, 1.0)  # range of valid values, for fresh test inputs
    kind: str = ""  # outputs: "probabilities" | "logits" | "regression" | "reconstruction"

    def to_contract(self, x):
        """Converts a channels-last array (how xdl's data sets store images) to this layout."""
        if self.layout == "NCHW":
            return x.transpose(0, 3, 1, 2)
        return x

    def from_contract(self, x):
        """Converts an array in this contract's layout back to channels-last."""
        if self.layout == "NCHW":
            return x.transpose(0, 2, 3, 1)
        return x

    @property
    def channels_last_shape(self) -> tuple[int | None, ...]:
        """The per-sample shape a Keras model declares for this input (no batch dim)."""
        if self.layout == "NCHW":
            _, c, h, w = self.shape
            return (h, w, c)
        return tuple(self.shape[1:])

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
            "domain": list(self.domain),
            **({"kind": self.kind} if self.kind else {}),
        }


@dataclass(frozen=True)
class Tolerance:
    """Element-wise parity test: |actual - expected| <= atol + rtol * |expected|.

    The numbers come from the policy in xdl/tolerance.py, or a model's override.
    """

    atol: float  # absolute part: what matters for values near 0
    rtol: float  # relative part: what matters for large values
    reason: str  # why these numbers; printed in the docs and recorded in manifests

    @property
    def pair(self) -> tuple[float, float]:
        """(atol, rtol), as xdl.verify's checks take them."""
        return self.atol, self.rtol

    def to_json(self) -> dict:
        return {"atol": self.atol, "rtol": self.rtol, "reason": self.reason}


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe, stated once and mapped explicitly onto each framework."""

    optimizer: str  # "rmsprop" | "adam"; see xdl/optimizers.py for the per-framework mapping
    lr: float  # learning rate
    batch_size: int  # samples per gradient step
    epochs: int  # maximum number of passes over the training set
    validation_split: float = 0.0  # fraction of the training set held out (taken from its end)
    early_stopping_patience: int | None = None  # epochs without val_loss improvement before stop
    seed: int = 0  # seeds the data split, initial weights and shuffling of both frameworks
    quick_train_samples: int = 512  # --quick: training samples used (CI smoke runs)
    quick_epochs: int = 1  # --quick: epochs


@dataclass(frozen=True)
class ModelSpec:
    """Everything about one reference model that does not depend on a framework."""

    name: str  # registry key and folder name under xdl/models and exported_models
    task: str  # "classification" (more tasks arrive with the zoo)
    summary: str  # one line for `xdl list`
    inputs: tuple[TensorSpec, ...]  # the ONNX contract's inputs, in order
    outputs: tuple[TensorSpec, ...]  # the ONNX contract's outputs, in order
    num_classes: int  # width of the classifier head
    head: str  # "softmax": Keras puts it in the last layer, PyTorch adds it for inference/export
    dataset: str  # the embedded offline data set used by default
    datasets: tuple[str, ...]  # every data set this model can be trained on (--dataset)
    train: TrainConfig
    param_count: int  # trainable parameters; both twins must have exactly this many
    tolerance_override: Tolerance | None = None  # replaces the policy's float32 numbers, with a reason
    min_test_accuracy: float = 0.0  # a full `xdl all` run on `dataset` must reach this

    @property
    def tolerance(self) -> Tolerance:
        """The CPU float32 tolerance of the first output: what native-vs-native checks use."""
        from xdl.tolerance import tolerance_for

        out = self.outputs[0]
        return tolerance_for(out.dtype, "cpu", out.kind, self.tolerance_override)
