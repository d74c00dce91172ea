"""PyTorch on several processes: torchrun starts them, DistributedDataParallel averages the
gradients. The same functions, in the same order, live in keras_distributed.py.

Each process (a "worker") runs this with its own shard of the training set (xdl.data.Shard) and
a per-worker batch of B / N, so that one step of N workers sees the same B samples as one step
of a single process. DDP's all-reduce in `backward()` averages the N gradients; each worker's
loss is the mean over its B / N samples, so the average is the gradient of the mean over all B:
the step one process would take. Nothing here averages gradients itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import os

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from xdl import limits
from xdl.backends import torch as single
from xdl.backends.progress import EpochHistory, TrainingProgress
from xdl.errors import InputError, WorkerLost, first_line
from xdl.spec import tasks


@dataclasses.dataclass
class Group:
    """This process's place in the run: rank 0 of `size` is the chief, which saves the run."""

    rank: int
    size: int
    engine: str  # what the run's log and metrics.json say trained it

    @property
    def replicas(self) -> int:
        """Model copies over every process: one per process (DDP)."""
        return self.size


# How long one collective (an all-reduce, the final barrier) may wait for the slowest worker: rank 0
# alone reads the test split, and data loading differs per shard. Joining is bounded apart, by
# XDL_JOIN_TIMEOUT: a worker whose peers never come should not wait this long.
COLLECTIVE_TIMEOUT = datetime.timedelta(minutes=30)


def join(workers: int | None = None) -> Group:
    """Joins the process group torchrun set up (RANK, WORLD_SIZE, MASTER_ADDR in the
    environment): NCCL when this worker has a GPU, gloo on CPU. Every worker must be in within
    XDL_JOIN_TIMEOUT seconds.

    Raises:
        InputError: not started by torchrun, or its environment is incomplete.
        WorkerLost: the others did not join in time.
    """
    if "TORCHELASTIC_RUN_ID" not in os.environ:
        raise InputError("this worker was not started by torchrun; start it with `xdl train MODEL --framework "
                         "torch --workers N` or torchrun (docs/distributed.md)")
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if not os.environ.get(name) or (name != "MASTER_ADDR" and not os.environ[name].isdigit()):
            raise InputError(f"torchrun's environment is incomplete: {name}={os.environ.get(name)!r}; start the "
                             f"worker with torchrun itself, which sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    wait = limits.join_timeout()
    where = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    try:
        # The store's timeout bounds the join (reaching MASTER_ADDR, every worker's address arriving);
        # the group's, every collective after it.
        store, rank, size = next(dist.rendezvous("env://", timeout=datetime.timedelta(seconds=wait)))
        dist.init_process_group(backend, store=store, rank=rank, world_size=size, timeout=COLLECTIVE_TIMEOUT)
        dist.barrier()  # NCCL connects lazily: make the first collective part of the join
    except (RuntimeError, ValueError) as exc:  # torch's DistStoreError and DistNetworkError are RuntimeErrors
        raise WorkerLost(f"worker {os.environ['RANK']} could not join the others at {where} within {wait:g} s "
                         f"({first_line(exc, 200).rstrip('.')}); start every worker, check the address and the "
                         f"firewall, or raise XDL_JOIN_TIMEOUT") from None
    size = dist.get_world_size()
    if workers is not None and workers != size:
        raise InputError(f"torchrun started {size} workers, the command asked for {workers}")
    return Group(dist.get_rank(), size, f"torchrun + DistributedDataParallel ({backend}), {size} workers")


def leave(group: Group) -> None:
    """Waits for every worker, then closes the group. Called after a run that went well: a worker
    that closes its connections while another still uses them can make gloo abort that one
    (SIGABRT). After an error the process just ends, and torchrun ends the others."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def build(spec, group: Group, twin):
    """The twin (`twin` is its build(spec), xdl.models'), seeded like a single-process run; DDP then
    broadcasts rank 0's weights, so every worker starts from the same ones even where seeding
    differed."""
    single.seed_everything(spec.recipe.seed)
    return twin(spec)


def _per_worker(spec, group: Group):
    """The spec with the batch each worker takes: the global batch B split N ways."""
    if spec.recipe.batch_size % group.size:
        raise InputError(f"{spec.name}'s batch of {spec.recipe.batch_size} does not split into {group.size} "
                         f"equal parts; use a number of workers that divides it")
    recipe = dataclasses.replace(spec.recipe, batch_size=spec.recipe.batch_size // group.size)
    return dataclasses.replace(spec, recipe=recipe)


def train(net, spec, data, group: Group, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """Trains `net` on this worker's shard `data` with the spec's recipe: the loop of
    xdl.backends.torch.train, each step's gradient averaged over the workers by DDP.

    Every worker evaluates the same validation set with the same weights, so all of them make the
    same best-epoch and early-stopping decisions; the chief's checkpoint is the one kept."""
    cfg, local = spec.recipe, _per_worker(spec, group)
    model = DistributedDataParallel(net)  # broadcasts rank 0's weights and buffers now and at each forward
    xs, y = single.to_tensors(data.x_train, spec), single.loss_targets(spec, data.x_train, data.y_train)
    xs_val, y_val = single.to_tensors(data.x_val, spec), single.loss_targets(spec, data.x_val, data.y_val)
    optimizer, loss_fn = single.make_optimizer(model.parameters(), cfg), single.loss_function(spec)
    rng = np.random.default_rng(cfg.seed)  # the same seed on every worker: each shuffles its own shard
    has_val = len(y_val) > 0
    history = EpochHistory(tasks.get(spec.task).train_accuracy, has_val, cfg.early_stopping_patience)
    n = len(y)
    steps = -(-n // local.recipe.batch_size)
    title = f"{spec.name}/torch on {group.size} workers"
    with TrainingProgress(title, epochs, steps, show_progress and group.rank == 0) as progress:
        for epoch in range(epochs):
            progress.epoch_begin(epoch)
            logs = single.train_epoch(model, local, xs, y, optimizer, loss_fn, rng.permutation(n), progress)
            logs = {k: _mean_over_workers(v) for k, v in logs.items()}  # the epoch's loss over every shard
            if has_val:
                _same_buffers(net)  # BatchNorm's running statistics as rank 0 has them
                logs["val_loss"], logs["val_accuracy"] = single.evaluate(spec, net, xs_val, y_val, loss_fn, 512)
            if history.end_epoch(epoch, logs, progress, lambda: single.save_weights(net, checkpoint)):
                break
    if has_val and checkpoint.exists():
        single.load_weights(net, checkpoint)
    net.eval()
    return history.epochs


def train_steps(net, spec, batches, group: Group, lr: float) -> list[float]:
    """One SGD step per (x, y) part of a global batch, in order, on every worker at once; returns
    each step's loss over the whole batch (before the step). The counterpart of
    xdl.backends.torch.train_steps(..., "sgd", lr) on the whole batches: the tests prove the two
    reach the same weights."""
    model = DistributedDataParallel(net)
    opt, loss_fn = torch.optim.SGD(model.parameters(), lr=lr), single.loss_function(spec)
    model.train()
    losses = []
    for x, y in batches:
        loss = loss_fn(model(*single.to_tensors(x, spec)), single.loss_targets(spec, x, y))
        opt.zero_grad()
        loss.backward()  # DDP's all-reduce: every worker now holds the mean gradient
        opt.step()
        losses.append(_mean_over_workers(loss.item()))
    net.eval()
    return losses


def _mean_over_workers(value: float) -> float:
    """A logged number (not a gradient) averaged over the workers, for one history line."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def _same_buffers(net) -> None:
    """Copies rank 0's buffers (BatchNorm's running statistics) to every worker: DDP does so at the
    start of each forward, so between epochs the other workers still hold their own."""
    for buffer in net.buffers():
        dist.broadcast(buffer, 0)
