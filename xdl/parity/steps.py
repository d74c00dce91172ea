"""Training parity: both twins from the same initial weights take K optimizer steps on the same
batches in the same order; the loss is compared at every step and the weights at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from xdl import backends, models, twins
from xdl import data as datasets
from xdl.data import for_model
from xdl.errors import EXIT_OK, EXIT_PARITY, InputError
from xdl.port import engine
from xdl.spec import optimizers, registry, tasks


@dataclass
class TrainingParity:
    model: str
    steps: int
    optimizer: str  # "sgd" or the spec's optimizer name
    lr: float
    batch_size: int
    keras_losses: list[float]
    torch_losses: list[float]
    max_rel_loss: float
    weights_max_abs: float  # between the frameworks after the last step
    weights_max_rel: float
    weights_moved: float  # max abs change of any weight during training: the scale to compare with
    target: float
    difference: str  # what separates the frameworks' update rule, from xdl/spec/optimizers.py
    worst_weight: str = ""  # which weight array (Keras layer[index]) and element differ most

    @property
    def ok(self) -> bool:
        return self.max_rel_loss <= self.target

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_PARITY

    def to_json(self) -> dict:
        return {**asdict(self), "ok": self.ok, "exit_code": self.exit_code}


def compare(model: str, steps: int = 20, *, optimizer: str = "sgd", lr: float = 0.01,
                    target: float = 1e-4) -> TrainingParity:
    """Trains both twins for `steps` steps from the same initial weights on the same batches.

    Dropout is disabled (its random masks cannot be shared across frameworks); everything
    else is the real model. optimizer "sgd" is plain SGD; "spec" is the model's own optimizer
    mapped as xdl/spec/optimizers.py says, whose remaining differences the report names.
    """
    spec = registry.get(model)
    if steps < 1:
        raise InputError(f"--steps must be at least 1, got {steps}")
    if optimizer not in ("sgd", "spec"):
        raise InputError(f"--optimizer must be 'sgd' or 'spec', got {optimizer!r}")
    kfw, tfw = backends.load("keras"), backends.load("torch")
    kfw.seed_everything(spec.recipe.seed)
    nets = {"keras": models.build(spec, "keras"), "torch": models.build(spec, "torch")}
    twins.port(model, "keras", nets["keras"], nets["torch"])  # the same initial weights
    for fw_name, net in nets.items():
        backends.load(fw_name).disable_dropout(net)

    bs = spec.recipe.batch_size
    batches = _batches(spec, steps, bs)
    initial = kfw.get_weights(nets["keras"])
    # The task says what steps: the back end's supervised step, or the twin's own update (dqn's
    # temporal-difference step, gan's two).
    task = tasks.get(spec.task)
    steppers = {name: task.step_trainer(backends.load(name), models.twin(model, name)) for name in nets}
    losses = {name: steppers[name](net, spec, batches, optimizer, lr) for name, net in nets.items()}
    k, t = np.array(losses["keras"]), np.array(losses["torch"])
    rules = models.port_table(model)
    ported = engine.torch_to_keras(rules, tfw.get_weights(nets["torch"]), kfw.get_weights(nets["keras"]))
    kw = kfw.get_weights(nets["keras"])
    diffs = [np.abs(a - b) for layer in kw for a, b in zip(kw[layer], ported[layer])]
    scales = [np.abs(a) for layer in kw for a in kw[layer]]
    names = [f"{layer}[{i}]" for layer in kw for i in range(len(kw[layer]))]
    worst = int(np.argmax([d.max() for d in diffs]))
    where = np.unravel_index(diffs[worst].argmax(), diffs[worst].shape)
    name = "sgd" if optimizer == "sgd" else spec.recipe.optimizer
    return TrainingParity(
        model=model, steps=steps, optimizer=name, lr=lr, batch_size=bs,
        keras_losses=k.tolist(), torch_losses=t.tolist(),
        max_rel_loss=float((np.abs(k - t) / np.abs(k)).max()),
        weights_max_abs=float(max(d.max() for d in diffs)),
        weights_max_rel=float(max((d / np.maximum(s, 1e-3)).max() for d, s in zip(diffs, scales))),
        weights_moved=float(max(np.abs(a - b).max() for layer in kw for a, b in zip(kw[layer], initial[layer]))),
        target=target, difference=optimizers.DIFFERENCES[name],
        worst_weight=f"{names[worst]} at {tuple(int(i) for i in where)}",
    )


def _batches(spec, steps: int, bs: int) -> list[tuple]:
    """The batches both twins step on, as the spec's task draws them (xdl/spec/tasks.py): (x, y)
    from the spec's data set (for a GAN: noise and real images), or for an agent, replay batches
    (states, actions, rewards, next states, terminal) of seeded random-policy episodes."""
    def dataset():
        return datasets.load(spec.recipe.dataset, seed=spec.recipe.seed)

    return tasks.get(spec.task).parity_batches(spec, steps, bs, dataset, for_model.environment(spec))


def render(r: TrainingParity) -> str:
    from xdl.report import table

    rows = [[str(i + 1), f"{a:.6f}", f"{b:.6f}", f"{abs(a - b) / abs(a):.1e}"]
            for i, (a, b) in enumerate(zip(r.keras_losses, r.torch_losses))]
    verdict = "OK" if r.ok else "DIVERGED"
    return "\n".join([
        f"{r.model}: {r.steps} steps of {r.optimizer} (lr {r.lr:g}, batch {r.batch_size}) from the same "
        f"initial weights, dropout off",
        table(["step", "keras loss", "torch loss", "rel diff"], rows),
        f"max rel loss diff {r.max_rel_loss:.1e} (target {r.target:g}); weights after {r.steps} steps: "
        f"max abs diff {r.weights_max_abs:.1e}, max rel {r.weights_max_rel:.1e}; "
        f"training moved weights by up to {r.weights_moved:.1e}; largest difference at {r.worst_weight}",
        f"what separates the two update rules: {r.difference}",
        f"training parity {verdict}",
    ])
