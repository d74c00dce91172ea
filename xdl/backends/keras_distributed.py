"""Keras 3 on several devices or processes, through tf.distribute. The same functions, in the
same order, live in torch_distributed.py.

Why tf.distribute and not Keras 3's own `keras.distribution`: that API covers the JAX backend
only (its TensorFlow module is marked a prototype in Keras 3.15), and xdl's Keras twins run on
TensorFlow. Two strategies, one training loop:

- MirroredStrategy: one process, several devices (the machine's GPUs, or N logical CPU devices
  where it has fewer): `xdl train MODEL --framework keras --workers N`.
- MultiWorkerMirroredStrategy: one process per machine (or several on one), described by the
  TF_CONFIG environment variable (docs/distributed.md).

The loop is `strategy.run` on a step written with GradientTape rather than `fit()`: Keras 3.15's
`fit()` fails under MultiWorkerMirroredStrategy ("unsupported type PerReplica"), and one loop for
both strategies keeps them provably the same. Each replica's loss is its share of the mean over
the global batch (its sum divided by the global count); the Keras optimizer's `apply_gradients`
in a replica context sums the replicas' gradients (an all-reduce in the strategy), which gives
the gradient of the mean over all B samples: the step one process would take.
"""

from __future__ import annotations

import dataclasses
import json
import os

from xdl.backends import keras as single  # first: sets up TensorFlow's environment and imports it quietly

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from xdl.backends.progress import EpochHistory, TrainingProgress  # noqa: E402
from xdl.errors import InputError, first_line  # noqa: E402
from xdl.spec import tasks  # noqa: E402


@dataclasses.dataclass
class Group:
    """This process's place in the run: rank 0 of `size` processes is the chief, which saves the
    run; `replicas` counts the model copies over every process (devices)."""

    rank: int
    size: int
    engine: str
    strategy: tf.distribute.Strategy
    replicas: int


def join(workers: int | None = None) -> Group:
    """MultiWorkerMirroredStrategy when TF_CONFIG describes a cluster, else MirroredStrategy over
    `workers` local devices: GPUs if there are that many, else logical CPU devices."""
    if os.environ.get("TF_CONFIG"):
        config = json.loads(os.environ["TF_CONFIG"])  # checked by xdl.distributed.tf_config
        size, rank = len(config["cluster"]["worker"]), int(config["task"]["index"])
        try:
            # Waits until every worker has started, in C++ and holding the interpreter (no Python
            # thread or signal handler runs meanwhile): the launcher keeps the deadline.
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except tf.errors.UnknownError as exc:  # "Could not start gRPC server": the port was taken meanwhile
            raise InputError(f"worker {rank} cannot listen on {config['cluster']['worker'][rank]} "
                             f"({first_line(exc)}); give it a free port in TF_CONFIG") from None
        return Group(rank, size, f"tf.distribute.MultiWorkerMirroredStrategy, {size} workers", strategy,
                     strategy.num_replicas_in_sync)
    if not workers or workers < 2:
        raise InputError("a distributed Keras run needs --workers N (N >= 2) or TF_CONFIG (docs/distributed.md)")
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= workers:
        devices = [f"/gpu:{i}" for i in range(workers)]
    else:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:  # only possible before TensorFlow has started its runtime in this process
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * workers)
        except RuntimeError as exc:
            raise InputError(f"cannot split the CPU into {workers} devices after TensorFlow started ({exc}); "
                             f"run the training in a new process") from None
        devices = [f"/cpu:{i}" for i in range(workers)]
    strategy = tf.distribute.MirroredStrategy(devices)
    return Group(0, 1, f"tf.distribute.MirroredStrategy over {', '.join(devices)}", strategy, workers)


def leave(group: Group) -> None:
    """Nothing to undo after a run that went well: the strategy's servers end with the process."""


def build(spec, group: Group, twin):
    """The twin (`twin` is its build(spec), xdl.models'), built inside the strategy's scope so that
    its variables are mirrored (one copy per replica, kept equal by the strategy), seeded like a
    single-process run."""
    with group.strategy.scope():
        single.seed_everything(spec.recipe.seed)
        return twin(spec)


def _per_worker(spec, group: Group) -> int:
    """The rows each process takes per step: the global batch B split over the processes."""
    if spec.recipe.batch_size % group.replicas:
        raise InputError(f"{spec.name}'s batch of {spec.recipe.batch_size} does not split into {group.replicas} "
                         f"equal parts; use a number of workers that divides it")
    return spec.recipe.batch_size // group.size


def _step_function(net, spec, group: Group, optimizer):
    """One training step on every replica: returns the global batch's summed loss and number of
    right predictions (reduced over the replicas by the strategy)."""
    loss_fn = keras.losses.get(tasks.get(spec.task).keras_loss)  # per sample: no reduction yet

    def replica_step(x, y, global_rows):
        with tf.GradientTape() as tape:
            out = net(x, training=True)
            per_sample = loss_fn(y, out)
            per_row = tf.cast(tf.reduce_prod(tf.shape(per_sample)[1:]), tf.float32)  # tokens per sentence, or 1
            # This replica's share of the mean over the whole global batch: the strategy sums shares.
            loss = tf.reduce_sum(per_sample) / (tf.cast(global_rows, tf.float32) * per_row)
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))  # sums the replicas' gradients
        return loss, _correct(spec, out, y)

    @tf.function
    def step(x, y, global_rows):
        loss, correct = group.strategy.run(replica_step, args=(x, y, global_rows))
        total = group.strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return total, group.strategy.reduce(tf.distribute.ReduceOp.SUM, correct, axis=None)

    return step


def _correct(spec, out, y):
    """Right predictions in a replica's batch, counted as Keras's "accuracy" metric counts them."""
    if not tasks.get(spec.task).train_accuracy:
        return tf.constant(0.0)
    if tasks.get(spec.task).accuracy == "threshold":
        right = tf.equal(out > 0.5, y > 0.5)
    else:
        right = tf.equal(tf.argmax(out, -1), tf.cast(y, tf.int64))
    right = tf.cast(right, tf.float32)
    return tf.reduce_sum(tf.reduce_mean(tf.reshape(right, (tf.shape(right)[0], -1)), axis=1))


def _distributed(group: Group, spec, x, y):
    """This process's rows of a step split over its local replicas, as the strategy's per-replica
    values (replica i of this process gets part i)."""
    local = group.replicas // group.size
    xs = [single.call_inputs(spec, part) for part in np.array_split(x, local)]  # an array, or a list per input
    ys = np.array_split(tasks.get(spec.task).targets(x, y), local)

    def part(arrays, context):
        return tf.nest.map_structure(tf.constant, arrays[context.replica_id_in_sync_group % local])

    return (group.strategy.experimental_distribute_values_from_function(lambda c: part(xs, c)),
            group.strategy.experimental_distribute_values_from_function(lambda c: part(ys, c)))


def train(net, spec, data, group: Group, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """Trains `net` on this process's shard `data` with the spec's recipe: per epoch, the shard in
    a shuffled order (the same seed on every process), a step per B / processes rows, then the
    validation loss; the best epoch is checkpointed and restored, and training stops early after
    `early_stopping_patience` stale epochs, as xdl's single-process fit() does."""
    cfg, rows = spec.recipe, _per_worker(spec, group)
    with group.strategy.scope():
        optimizer = single.make_optimizer(cfg)
        # Its slots (moments, accumulators) now, mirrored like the weights: created lazily inside the
        # step's graph they would be made per replica, in a branch the strategy cannot feed.
        optimizer.build(net.trainable_variables)
    step = _step_function(net, spec, group, optimizer)
    rng = np.random.default_rng(cfg.seed)
    has_val = len(data.x_val) > 0
    history = EpochHistory(tasks.get(spec.task).train_accuracy, has_val, cfg.early_stopping_patience)
    n = len(data.x_train)
    title = f"{spec.name}/keras on {group.replicas} replicas"
    with TrainingProgress(title, epochs, -(-n // rows), show_progress and group.rank == 0) as progress:
        for epoch in range(epochs):
            progress.epoch_begin(epoch)
            order, total, correct = rng.permutation(n), 0.0, 0.0
            for i in range(0, n, rows):
                idx = order[i : i + rows]
                x, y = _distributed(group, spec, data.x_train[idx], data.y_train[idx])
                loss, right = step(x, y, tf.constant(len(idx) * group.size))
                total, correct = total + float(loss) * len(idx), correct + float(right)  # right: over all processes
                progress.step(float(loss))
            logs = {"loss": total / n, "accuracy": correct / (n * group.size)}
            if has_val:
                logs["val_loss"], logs["val_accuracy"] = _evaluate(net, spec, data.x_val, data.y_val)
            if history.end_epoch(epoch, logs, progress, lambda: net.save_weights(str(checkpoint))):
                break
    if has_val and checkpoint.exists():
        net.load_weights(str(checkpoint))
    return history.epochs


def _evaluate(net, spec, x, y) -> tuple[float, float]:
    """The validation loss and accuracy on this process, outside the strategy: every process holds
    the same weights and the same validation set, so every one decides the same."""
    out = single.predict(net, spec, x, batch_size=512)
    out = spec.output.from_contract(out)
    task = tasks.get(spec.task)
    t = task.targets(x, y)
    loss = float(np.mean(keras.losses.get(task.keras_loss)(t, out)))
    if task.accuracy == "threshold":
        acc = float(np.mean((out > 0.5) == (t > 0.5)))
    elif task.train_accuracy:
        acc = float(np.mean(out.argmax(-1) == t))
    else:
        acc = 0.0
    return loss, acc


def train_steps(net, spec, batches, group: Group, lr: float) -> list[float]:
    """One SGD step per (x, y) part of a global batch, in order, on every replica at once; returns
    each step's loss over the whole batch (before the step). The counterpart of
    xdl.backends.keras.train_steps(..., "sgd", lr) on the whole batches: the tests prove the two
    reach the same weights."""
    with group.strategy.scope():
        optimizer = keras.optimizers.SGD(learning_rate=lr)
        optimizer.build(net.trainable_variables)
    step = _step_function(net, spec, group, optimizer)
    losses = []
    for x, y in batches:
        xd, yd = _distributed(group, spec, x, y)
        loss, _ = step(xd, yd, tf.constant(len(x) * group.size))
        losses.append(float(loss))
    return losses
