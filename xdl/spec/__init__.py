"""Framework-neutral descriptions of a model: its ONNX contract, training recipe, expectations and lesson.

A `ModelSpec` is the single source of truth for one reference model. The Keras twin, the PyTorch
twin, the exporters, the tests and the verifier all read their numbers from here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# numpy and the tasks (which need numpy) are imported where used: `xdl --help` reads the specs
# and starts in a few tens of milliseconds without them.
from xdl.spec.tolerance import (  # the policy decides; a spec may override it
    Tolerance,
    tolerance_for,
)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of the ONNX contract, identical for both exports of a model."""

    name: str  # the ONNX graph input/output name a deployer feeds or reads
    # Contract shape; None marks a dynamic dim: the batch (always first), and the sequence
    # length of recurrent models (second), which ONNX names "batch" and "seq".
    shape: tuple[int | None, ...]
    dtype: str = "float32"  # numpy dtype name of the tensor
    layout: str = ""  # "NCHW" for images (the ONNX convention); "" where layout means nothing
    # Range of valid values, for fresh test inputs. Integer inputs (token and id indices) take
    # low <= v < high, like range(); float inputs low <= v <= high.
    domain: tuple[float, float] = (0.0, 1.0)
    kind: str = ""  # outputs: "probabilities" | "logits" | "regression" | "reconstruction" | "features"
    # An output that may hold NaN or Inf (say, a log-probability of an impossible class): they must
    # then sit at the same places. Otherwise any NaN or Inf fails a check (xdl.verify.compare).
    nonfinite: bool = False
    # ONNX's name for a dynamic length (axis 1). Two inputs whose lengths may differ (a similarity
    # model's two sentences) need two names: one name would tell a deployer, and the exporters, that
    # the lengths are equal.
    seq_name: str = "seq"

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

    @property
    def dynamic_axes(self) -> dict[int, str]:
        """{axis: symbolic name} of the contract's dynamic dims: 0 is "batch", 1 is seq_name."""
        return {i: ("batch" if i == 0 else self.seq_name) for i, d in enumerate(self.shape) if d is None}

    def sample(self, rng, n: int, length: int | None = None):
        """n fresh channels-last samples drawn uniformly from the domain (ints: low <= v < high);
        `length` fills a dynamic sequence dim."""
        import numpy as np

        shape = tuple(length if d is None else d for d in self.channels_last_shape)
        low, high = self.domain
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            return rng.integers(int(low), int(high), size=(n, *shape)).astype(self.dtype)
        return rng.uniform(low, high, size=(n, *shape)).astype(self.dtype)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "layout": self.layout,
            "domain": list(self.domain),
            **({"kind": self.kind} if self.kind else {}),
            **({"nonfinite": True} if self.nonfinite else {}),
        }


@dataclass(frozen=True, kw_only=True)
class Contract:
    """The ONNX I/O contract of one graph: what a deployer feeds and reads. A registered model's is
    part of its spec (`ModelSpec.contract`); a user's model checked with `xdl check` gets one made
    from its example inputs and outputs."""

    inputs: tuple[TensorSpec, ...]  # in order
    outputs: tuple[TensorSpec, ...]  # in order
    # Sub-models exported on their own contracts (the autoencoder's encoder and decoder), by part
    # name; each twin's `part(net, name)` returns that sub-model.
    parts: tuple[tuple[str, Contract], ...] = ()


@dataclass(frozen=True)
class Phase:
    """One stage of a multi-stage recipe (transfer learning): what trains, on what, how fast.

    Layer names are the Keras twin's; the PyTorch module of each comes from the port table.
    """

    name: str  # "pretrain", "head", "finetune"
    dataset: str  # the phase's data set
    trainable: tuple[str, ...] | None  # Keras layers whose weights train in this phase; None: all
    lr: float
    epochs: int
    reset: tuple[str, ...] = ()  # layers re-initialised before the phase (a new head)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """How both twins are trained: on what, and with which numbers, stated once and mapped
    explicitly onto each framework."""

    dataset: str  # the embedded offline data set used by default
    datasets: tuple[str, ...]  # every data set this model can be trained on (--dataset)
    optimizer: str  # "rmsprop" | "adam"; see xdl/spec/optimizers.py for the per-framework mapping
    lr: float  # learning rate
    batch_size: int  # samples per gradient step
    epochs: int  # maximum number of passes over the training set
    validation_split: float = 0.0  # fraction of the training set held out (taken from its end)
    early_stopping_patience: int | None = None  # epochs without val_loss improvement before stop
    seed: int = 0  # seeds the data split, initial weights and shuffling of both frameworks
    # Token sequences are cut to their last max_length ids for training and testing, as
    # keras.utils.pad_sequences(maxlen=...) does: a recurrent net pays for every step it reads.
    max_length: int | None = None
    # Adam's beta_1 where a recipe departs from the usual 0.9: DCGAN's 0.5 (Radford et al. 2015), so
    # that the momentum forgets faster while generator and discriminator keep moving each other.
    beta_1: float | None = None
    quick_train_samples: int = 512  # --quick: training samples used (CI smoke runs)
    quick_epochs: int = 1  # --quick: epochs
    # A multi-stage recipe (transfer learning); empty: one phase, this recipe on `dataset`.
    phases: tuple[Phase, ...] = ()
    # Where an agent acts and is scored (a control task): a module of xdl.data, "cartpole"
    # (xdl.data.for_model.environment); "" for a model trained on stored samples only.
    environment: str = ""


@dataclass(frozen=True, kw_only=True)
class Expectations:
    """What the twins and their runs must show."""

    param_count: int  # trainable parameters; both twins must have exactly this many
    goal: float = 0.0  # a full `xdl all` run on the recipe's dataset must reach this test metric (see metric)
    margin: float = 0.03  # how far apart the twins' test metrics may be after a full run
    tolerance_override: Tolerance | None = None  # replaces the policy's float32 numbers, with a reason
    # Sequence lengths the live checks run at, for inputs whose length is dynamic.
    seq_lengths: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Lesson:
    """Where the model is taught and how `xdl list` names it."""

    # The tutorial that teaches it (tutorials/<tutorial>.py); models are listed in tutorial order.
    tutorial: str
    summary: str  # one line for `xdl list`, and the exported graph's doc string


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """One reference model, framework-free, in four parts: its contract (what it takes and gives), recipe
    (how both twins train), expectations (what a run must show) and lesson (where it is taught)."""

    name: str  # registry key and folder name under xdl/models and exported_models
    task: str  # a registered task (xdl.spec.tasks.get): its loss, test metric, training and export checks
    contract: Contract
    recipe: Recipe
    expectations: Expectations
    lesson: Lesson

    def __post_init__(self):
        # predict() returns one array and a test vector holds one output_0.pb: a model with
        # several outputs would need both to carry names, which no model needs yet.
        outputs = self.contract.outputs
        if len(outputs) != 1:
            raise ValueError(f"{self.name}: a registered model has exactly one output, not {len(outputs)}")

    @property
    def output(self) -> TensorSpec:
        """The model's one output (see __post_init__)."""
        return self.contract.outputs[0]

    @property
    def num_classes(self) -> int:
        """The width of the output's last axis: the classifier head's units, where outputs are
        classes (10 digits, a tagger's tags per token); 1 for a sigmoid unit or one regressed value."""
        return self.output.shape[-1]

    @property
    def head(self) -> str:
        """The output activation outside the PyTorch twin: Keras keeps it in the last layer,
        PyTorch's fused losses take logits, so it is added for inference and export only."""
        from xdl.spec import tasks

        return tasks.get(self.task).head

    @property
    def metric(self) -> str:
        from xdl.spec import tasks

        return tasks.get(self.task).metric

    def model_inputs(self, x) -> list:
        """The arrays each twin is called with, channels-last, from the stored form `x`: the array
        itself, or for several inputs (a recommender's user and item ids) the columns of x."""
        inputs = self.contract.inputs
        if len(inputs) == 1:
            return [x]
        return [x[:, i].astype(t.dtype) for i, t in enumerate(inputs)]

    def feeds(self, x) -> dict:
        """ONNX Runtime's feed for stored-form `x`: each input in contract layout, by name."""
        return {t.name: t.to_contract(a) for t, a in zip(self.contract.inputs, self.model_inputs(x))}

    def from_feeds(self, feeds: dict):
        """The stored form back from a feed (test vectors read from an artifact)."""
        arrays = [t.from_contract(feeds[t.name]) for t in self.contract.inputs]
        if len(arrays) == 1:
            return arrays[0]
        import numpy as np

        return np.stack(arrays, axis=1)

    def sample(self, rng, n: int, length: int | None = None):
        """n fresh inputs in stored form, each input drawn from its own domain."""
        arrays = [t.sample(rng, n, length) for t in self.contract.inputs]
        if len(arrays) == 1:
            return arrays[0]
        import numpy as np

        return np.stack(arrays, axis=1)

    def part(self, name: str) -> ModelSpec:
        """The spec of a sub-model (same recipe, its own contract), as exports and checks need."""
        for part, contract in self.contract.parts:
            if part == name:
                lesson = dataclasses.replace(self.lesson, summary=f"{self.lesson.summary} ({part})")
                return dataclasses.replace(self, name=f"{self.name}-{part}", contract=contract, lesson=lesson)
        raise KeyError(name)

    @property
    def tolerance(self) -> Tolerance:
        """The CPU float32 tolerance of the first output: what native-vs-native checks use."""
        out = self.output
        return tolerance_for(out.dtype, "cpu", out.kind, self.expectations.tolerance_override)
