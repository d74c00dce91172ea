"""What a model is trained to do, stated once for both frameworks: one registered class per task,
owning its targets, loss, test metric, head, how it is trained, the batches training parity steps
on, and the checks an export of it adds.

Each task names its Keras loss and the PyTorch loss that computes the same number, and the
head that sits outside the PyTorch twin (PyTorch's fused losses take logits, so softmax and
sigmoid are added only for inference and export; Keras keeps them in its last layer).

The metrics are computed here, in NumPy, on the outputs both twins (and ONNX Runtime) produce,
so a "test AUC 0.93" means the same computation whichever framework trained the model.
Importing this module imports NumPy only: what a task needs from the layers above (a back end,
a twin, an environment, an ONNX Runtime session) its callers pass in.
"""

from __future__ import annotations

import numpy as np

from xdl.errors import ParityError

TASKS: dict[str, Task] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: registers one instance of a task under its `name`."""
    if cls.name in TASKS:
        raise ValueError(f"task {cls.name!r} is registered twice")
    TASKS[cls.name] = cls()
    return cls


def get(name: str) -> Task:
    """The registered task called `name` (a ModelSpec's `task`)."""
    return TASKS[name]


# What a manifest of a user's own model says its task is (`xdl check --save`): not a registered
# task, for nothing trains it; `verify` judges its outputs by the kinds its contract records.
USER = "user"


def is_users(task: str | None) -> bool:
    """Whether a manifest's `task` is a user's own model's (USER), not a registered task's."""
    return task == USER


class Task:
    """A task fitted to stored samples by the back ends' supervised loop (fit() in Keras, the
    explicit loop in xdl.backends.torch); scored on the test split's outputs."""

    name: str = ""
    head = "none"  # added to the PyTorch twin for inference/export: "softmax" | "sigmoid" | "none"
    keras_loss = ""  # the loss string compile() takes
    torch_loss = ""  # the torch.nn loss class computing the same number on the twin's raw outputs
    metric = ""  # what the test set is scored by (see score())
    higher_is_better = False
    # How both frameworks count a right prediction per epoch, beside the loss: "argmax" (the
    # largest output is the label), "threshold" (one probability, > 0.5 means positive), or ""
    # (no accuracy: an error or a return is the measure).
    accuracy = ""
    # Whether the outputs are scores of classes, one of which is the answer (an argmax): such
    # outputs are compared by their ranking too, and a data set must not hold more classes.
    outputs_are_classes = False

    def __repr__(self) -> str:
        return f"tasks.get({self.name!r})"

    @property
    def train_accuracy(self) -> bool:
        """Whether both frameworks report an accuracy per epoch beside the loss."""
        return bool(self.accuracy)

    # -- what the loss and the metric compare, in NumPy --------------------------------------

    def targets(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """What the loss compares the model's output with (channels-last), the same for both frameworks."""
        return y

    def contract_targets(self, spec, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The targets in the layout of the contract's output (PyTorch's twins output it)."""
        return self.targets(x, y)

    def loss(self, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        """The training loss computed in NumPy on the inference outputs (probabilities, values),
        for checking training from outside either framework: here the mean squared error."""
        t = self.targets(x, y)
        return float(np.mean((outputs.reshape(t.shape) - t) ** 2))

    def score(self, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        """The test metric of `outputs` (the inference model's, channels-last) on stored-form (x, y)."""
        raise NotImplementedError(f"task {self.name!r} has no metric on outputs")

    def meets(self, value: float, goal: float) -> bool:
        """Whether a test metric reaches a spec's goal (a floor for accuracy/AUC, a ceiling for errors)."""
        return value >= goal if self.higher_is_better else value <= goal

    # -- what is trained on, and how ------------------------------------------------------

    def data_shape(self, spec) -> tuple | None:
        """The per-sample shape a data set's x must have, where it is not the model's inputs' (None)."""
        return None

    def prepare(self, spec, data):
        """The data set as the model trains on it (xdl.data.for_model); here as it is."""
        return data

    def trainer(self, fw, twin):
        """The function that trains a twin: fit(net, spec, data, *, epochs, checkpoint,
        show_progress) -> history; here the back end's supervised loop (`fw`, an xdl.backends
        module; `twin`, the model's keras.py or torch.py)."""
        return fw.train

    def step_trainer(self, fw, twin):
        """The function training parity steps with: train_steps(net, spec, batches, optimizer, lr)."""
        return fw.train_steps

    def test_score(self, spec, fw, net, data, environment=None) -> float:
        """The trained twin's test metric: here on the test split's outputs."""
        outputs = fw.predict(net, spec, data.x_test)
        return self.score(spec.output.from_contract(outputs), data.x_test, data.y_test)

    def parity_batches(self, spec, steps: int, batch_size: int, dataset, environment=None) -> list[tuple]:
        """The (x, y) batches both twins step on in training parity: `dataset()` (the spec's data
        set, loaded by the caller) prepared for the task, epoch after epoch, a fresh shuffle each,
        as fit() would: one stream both frameworks share."""
        data = self.prepare(spec, dataset())
        n = len(data.x_train)
        rng = np.random.default_rng(spec.recipe.seed)
        order = np.concatenate([rng.permutation(n) for _ in range(-(-steps * batch_size // n))])
        return [(data.x_train[idx], data.y_train[idx])
                for idx in order[: steps * batch_size].reshape(steps, batch_size)]

    # -- what an export adds ------------------------------------------------------------------

    def export_checks(self, spec, native, exported, environment=None) -> dict:
        """The checks an export of this task adds beyond comparing outputs on the test vectors,
        as manifest entries; `native` and `exported` map a stored-form batch to outputs (the twin,
        ONNX Runtime on CPU). Raises ParityError where the exported model does otherwise."""
        return {}


class _Classes(Task):
    """Outputs that score classes, one of which is the answer: integer labels with the sparse
    loss (the same numbers as one-hot labels with categorical_crossentropy, and the same label
    arrays PyTorch's CrossEntropyLoss takes)."""

    head = "softmax"
    keras_loss = "sparse_categorical_crossentropy"
    torch_loss = "CrossEntropyLoss"
    higher_is_better = True
    accuracy = "argmax"
    outputs_are_classes = True

    def loss(self, outputs, x, y):
        t = self.targets(x, y)
        p = np.take_along_axis(outputs, t[..., None].astype(np.int64), axis=-1)
        return float(-np.log(np.clip(p, 1e-12, None)).mean())


@register
class Classification(_Classes):
    name = "classification"
    metric = "accuracy"

    def score(self, outputs, x, y):
        return float((outputs.argmax(-1) == y).mean())


@register
class Tagging(_Classes):
    """A class per token: the same loss as classification, over (batch, time) labels."""

    name = "tagging"
    metric = "token_accuracy"

    def score(self, outputs, x, y):
        real = x != 0  # token id 0 is padding: scoring it would reward predicting padding
        return float((outputs.argmax(-1) == y)[real].mean())


@register
class Binary(Task):
    """One sigmoid unit: P(positive). BCEWithLogitsLoss fuses the sigmoid for stability."""

    name = "binary"
    head = "sigmoid"
    keras_loss = "binary_crossentropy"
    torch_loss = "BCEWithLogitsLoss"
    metric = "auc"
    higher_is_better = True
    accuracy = "threshold"

    def targets(self, x, y):
        return y.astype(np.float32).reshape(-1, 1)  # the model's (batch, 1) output shape

    def loss(self, outputs, x, y):
        t = self.targets(x, y)
        p = np.clip(outputs, 1e-7, 1 - 1e-7)
        return float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).mean())

    def score(self, outputs, x, y):
        return roc_auc(outputs, y)


@register
class Regression(Task):
    name = "regression"
    keras_loss = "mean_squared_error"
    torch_loss = "MSELoss"
    metric = "rmse"

    def targets(self, x, y):
        return y.astype(np.float32).reshape(-1, 1)  # the model's (batch, 1) output shape

    def score(self, outputs, x, y):
        return float(np.sqrt(np.mean((outputs.ravel() - y.ravel()) ** 2)))


@register
class Reconstruction(Task):
    """The input is the target: mean squared error per pixel."""

    name = "reconstruction"
    keras_loss = "mean_squared_error"
    torch_loss = "MSELoss"
    metric = "mse"

    def targets(self, x, y):
        return x

    def contract_targets(self, spec, x, y):
        return spec.output.to_contract(x)  # images channels-first, like the PyTorch twin's reconstructions

    def score(self, outputs, x, y):
        return float(np.mean((outputs.reshape(len(x), -1) - x.reshape(len(x), -1)) ** 2))


class OwnLoop(Task):
    """A task trained by the twins' own loops (xdl/models/<name>/{keras,torch}.py: train,
    train_steps), not by the back ends' supervised fit: an agent playing, a generator against a
    discriminator. Such a training runs in one process (xdl.distributed refuses it)."""

    def trainer(self, fw, twin):
        return twin.train

    def step_trainer(self, fw, twin):
        return twin.train_steps


@register
class Generation(OwnLoop):
    """A generator against a discriminator, each with binary cross-entropy on probabilities, in the
    twins' own alternating updates (xdl/models/gan); scored on the generator's images: their
    Frechet distance to the real test images (frechet_distance).

    Its data: noise vectors in (x), the real images the generator must learn to draw as targets (y)."""

    name = "generation"
    keras_loss = "binary_crossentropy"
    torch_loss = "BCELoss"
    metric = "frechet_distance"

    def score(self, outputs, x, y):  # outputs: generated images; y: the real ones (prepare)
        return frechet_distance(outputs, y)

    def data_shape(self, spec):
        return spec.part("generator").output.channels_last_shape  # a data set of images to draw

    def prepare(self, spec, data):
        """Inputs are noise vectors (standard normal, seeded per split), one per real image, and
        the real images are what the outputs are judged against (the y of each split)."""
        rng = np.random.default_rng(spec.recipe.seed)
        width = spec.contract.inputs[0].shape[1]
        for split in ("train", "val", "test"):
            images = getattr(data, f"x_{split}")
            setattr(data, f"y_{split}", images)
            setattr(data, f"x_{split}", rng.standard_normal((len(images), width)).astype(np.float32))
        data.source += f"; inputs: {width}-number standard normal noise, one per real image"
        return data

    def test_score(self, spec, fw, net, data, environment=None):
        """The generator's images for the test split's noise, against the real test images."""
        generator = spec.part("generator")
        images = fw.predict(fw.part(net, "generator"), generator, data.x_test)
        return self.score(generator.output.from_contract(images), data.x_test, data.y_test)


@register
class Control(OwnLoop):
    """Q-values learnt by deep Q-learning: a Huber loss on temporal-difference errors, in each
    twin's own update (xdl/models/dqn); scored by playing in the spec's `environment`, not on
    stored samples: the mean return of greedy episodes (e.g. xdl.data.cartpole.mean_return)."""

    name = "control"
    keras_loss = "huber"
    torch_loss = "HuberLoss"
    metric = "mean_return"
    higher_is_better = True
    EPISODES = 100  # the export check's seeds: 0 to 99, those of the test metric

    def test_score(self, spec, fw, net, data, environment=None):
        return environment.mean_return(lambda states: fw.predict(net, spec, states))

    def parity_batches(self, spec, steps, batch_size, dataset, environment=None):
        """Replay batches (states, actions, rewards, next states, terminal) of seeded random-policy episodes."""
        replay = environment.transitions(steps * batch_size, spec.recipe.seed)
        return [tuple(a[i * batch_size : (i + 1) * batch_size] for a in replay) for i in range(steps)]

    def export_checks(self, spec, native, exported, environment=None):
        """The deployment check of an agent: the exported policy drives the environment on the
        same seeds as the native twin, and must earn the same returns.

        A Q-network's outputs agreeing within a tolerance on stored states is not yet the deployed
        behaviour: the policy is the argmax of the outputs, fed back into the environment step
        after step, so a difference in the last bits that flips one near-tie changes every state
        after it. This check plays whole episodes both ways and reports where the chosen actions
        differ (xdl.exporting.policy.summary says it in a line).

        Raises:
            ParityError: an episode's return differs between the two.
        """
        episodes, seeds = self.EPISODES, np.arange(self.EPISODES)
        native_returns, native_actions = environment.greedy_episodes(native, seeds)
        onnx, onnx_actions = environment.greedy_episodes(exported, seeds)
        record = {
            "environment": environment.ENVIRONMENT,
            "episodes": episodes,
            "seeds": f"0-{episodes - 1}",
            "native_mean_return": float(native_returns.mean()),
            "onnx_mean_return": float(onnx.mean()),
            "steps": int((native_actions >= 0).sum()),
            # after an episode ends the record holds -1: an episode one policy ends earlier counts too
            "actions_differ": int((native_actions != onnx_actions).sum()),
            # episodes whose two plays parted at some step (a near-tie of the two Q-values decided
            # otherwise): from there on they are two different episodes, both played by the policy
            "episodes_diverged": int((native_actions != onnx_actions).any(axis=1).sum()),
            "returns_differ": int((native_returns != onnx).sum()),
        }
        if record["returns_differ"]:
            raise ParityError(f"{spec.name}: the exported policy run by ONNX Runtime earned other returns than the "
                              f"native twin in {record['returns_differ']} of {episodes} episodes (mean "
                              f"{record['onnx_mean_return']:.1f} vs {record['native_mean_return']:.1f}; "
                              f"{record['actions_differ']} actions differ)")
        return {"policy_check": record}


def meets(task: str, value: float, goal: float) -> bool:
    """Whether a test metric reaches a spec's goal: get(task).meets(value, goal)."""
    return get(task).meets(value, goal)


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
