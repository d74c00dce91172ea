"""PyTorch: train, predict, save/load weights and export to ONNX.

The same functions, in the same order, live in keras.py; read the two side by side.
Arrays cross this module's boundary channels-last (xdl's data layout); PyTorch wants
channels-first, so images are transposed here, on the way in, and nowhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xdl.backends import named_outputs
from xdl.backends.progress import EpochHistory, TrainingProgress
from xdl.errors import InputError, first_line
from xdl.spec import optimizers, tasks

WEIGHTS_FILE = "model.safetensors"  # tensors only: loading it can never run code


def seed_everything(seed: int) -> None:
    """Seeds PyTorch (initial weights, dropout); shuffling uses its own NumPy generator."""
    torch.manual_seed(seed)


def keras_like_init(net: nn.Module) -> nn.Module:
    """Re-initialises Linear/Conv weights as Keras does: glorot_uniform kernels, zero biases.

    PyTorch's default is kaiming_uniform(a=sqrt(5)) weights and small uniform biases. Using the
    Keras scheme in both twins removes one difference a learner would otherwise have to explain
    when the two frameworks' accuracies are compared. Fan-in and fan-out are computed alike
    (in * kh * kw and out * kh * kw), so the distributions are identical.

    Recurrent layers follow Keras too: glorot_uniform input kernels, an orthogonal recurrent
    kernel (Keras draws its (units, gates * units) matrix whole; PyTorch's is its transpose),
    zero biases except an LSTM's forget gate, which Keras starts at 1 (unit_forget_bias) so
    that early on the cell remembers rather than forgets. An Embedding is uniform(-0.05, 0.05).
    """
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LSTM, nn.GRU)):
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                else:
                    nn.init.zeros_(param)
                    if isinstance(module, nn.LSTM) and name.startswith("bias_ih"):
                        units = module.hidden_size  # gates i, f, g, o: f is the second block
                        with torch.no_grad():
                            param[units : 2 * units] = 1.0
        elif isinstance(module, nn.Embedding):
            nn.init.uniform_(module.weight, -0.05, 0.05)
    return net


class _Inference(nn.Module):
    """The twin plus the output activation Keras keeps inside its model (for predict/export);
    it takes the model's inputs as separate arguments (a recommender has two)."""

    def __init__(self, net: nn.Module, head: str):
        super().__init__()
        self.model = net
        heads = {"softmax": nn.Softmax(dim=-1), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}
        self.head_name = head
        self.add_module(head, heads[head])

    def forward(self, *inputs):
        return getattr(self, self.head_name)(self.model(*inputs))


def count_params(net: nn.Module) -> int:
    """Counts trainable parameters (what the spec's param_count states)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    """The spec's optimizer with every setting explicit (see xdl/spec/optimizers.py)."""
    if cfg.optimizer == "rmsprop":
        o = optimizers.RMSPROP
        # PyTorch calls Keras's rho "alpha" and defaults it to 0.99 (Keras: 0.9).
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=o["rho"], eps=o["epsilon"], momentum=o["momentum"]
        )
    if cfg.optimizer == "adam":
        o = optimizers.ADAM
        beta_1 = o["beta_1"] if cfg.beta_1 is None else cfg.beta_1
        return torch.optim.Adam(params, lr=cfg.lr, betas=(beta_1, o["beta_2"]), eps=o["epsilon"])
    raise InputError(f"unknown optimizer {cfg.optimizer!r}; known: {', '.join(optimizers.KNOWN)}")


def _tensor(array: np.ndarray) -> torch.Tensor:
    array = np.ascontiguousarray(array)
    # torch.from_numpy shares memory; arrays read from .pb files are read-only
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def to_tensors(x: np.ndarray, spec) -> list[torch.Tensor]:
    """The model's input tensors from stored-form x, in contract layout (NCHW for images,
    which is PyTorch's own)."""
    return [_tensor(a) for a in spec.feeds(x).values()]


def loss_targets(spec, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """The loss's targets (xdl/spec/tasks.py) in the layout the twin outputs, the contract's: an
    autoencoder's target images go channels-first, like its reconstructions."""
    return _tensor(tasks.get(spec.task).contract_targets(spec, x, y))


def loss_function(spec):
    """The task's loss (xdl/spec/tasks.py) on the twin's raw outputs."""
    loss = getattr(nn, tasks.get(spec.task).torch_loss)()
    if tasks.get(spec.task).outputs_are_classes and len(spec.output.shape) > 2:
        # A class per token: CrossEntropyLoss wants the classes on axis 1, (batch, classes, time),
        # not Keras's (batch, time, classes).
        return lambda out, y: loss(out.transpose(1, 2), y)
    return loss


def _correct(spec, out: torch.Tensor, y: torch.Tensor) -> float:
    """Right predictions in a batch, counted as Keras's "accuracy" metric counts them."""
    if tasks.get(spec.task).accuracy == "threshold":
        return ((out > 0) == (y > 0.5)).float().sum().item()  # logit > 0 <=> probability > 0.5
    return (out.argmax(-1) == y).float().sum().item() / (y[0].numel() if y.dim() > 1 else 1)


@torch.no_grad()
def evaluate(spec, net, xs, y, loss_fn, batch_size) -> tuple[float, float]:
    net.eval()
    total, correct = 0.0, 0.0
    for i in range(0, len(y), batch_size):
        out = net(*(x[i : i + batch_size] for x in xs))
        total += loss_fn(out, y[i : i + batch_size]).item() * len(out)
        if tasks.get(spec.task).train_accuracy:
            correct += _correct(spec, out, y[i : i + batch_size])
    return total / len(y), correct / len(y)


def train_epoch(net, spec, xs, y, optimizer, loss_fn, order: np.ndarray, progress) -> dict[str, float]:
    """One pass over the training set in `order`, a mini-batch at a time, as Keras's fit() does
    one epoch; returns the epoch's mean loss and accuracy."""
    net.train()  # dropout on, BatchNorm on batch statistics...
    frozen_batchnorm_to_eval(net)  # ...except where frozen, as in Keras
    order, n, batch_size = torch.from_numpy(order), len(y), spec.recipe.batch_size
    total, correct = 0.0, 0.0
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        out = net(*(x[idx] for x in xs))
        loss = loss_fn(out, y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
        if tasks.get(spec.task).train_accuracy:
            correct += _correct(spec, out, y[idx])
        progress.step(loss.item())
    return {"loss": total / n, "accuracy": correct / n}


def train(net, spec, data, *, epochs: int, checkpoint: Path, show_progress: bool = True) -> dict:
    """Trains `net` on `data` with the spec's recipe, written out as PyTorch's explicit loop.

    Mirrors Keras's fit(): shuffled mini-batches, the epoch's mean training loss and accuracy,
    validation at each epoch end, the best epoch by val_loss checkpointed to `checkpoint` and
    restored at the end, early stopping after `early_stopping_patience` stale epochs.

    Returns:
        The history: per-epoch lists of loss, accuracy (and val_loss, val_accuracy); no
        accuracy for regression and reconstruction.
    """
    cfg = spec.recipe
    xs, y = to_tensors(data.x_train, spec), loss_targets(spec, data.x_train, data.y_train)
    xs_val, y_val = to_tensors(data.x_val, spec), loss_targets(spec, data.x_val, data.y_val)
    optimizer = make_optimizer(net.parameters(), cfg)
    # Classifiers' losses take logits: log-softmax and negative log-likelihood fused, stabler
    # than softmax then log (likewise sigmoid + binary cross-entropy).
    loss_fn = loss_function(spec)
    rng = np.random.default_rng(cfg.seed)
    has_val = len(y_val) > 0
    history = EpochHistory(tasks.get(spec.task).train_accuracy, has_val, cfg.early_stopping_patience)
    n = len(y)
    steps = -(-n // cfg.batch_size)
    with TrainingProgress(f"{spec.name}/torch", epochs, steps, show_progress) as progress:
        for epoch in range(epochs):
            progress.epoch_begin(epoch)
            logs = train_epoch(net, spec, xs, y, optimizer, loss_fn, rng.permutation(n), progress)
            if has_val:
                logs["val_loss"], logs["val_accuracy"] = evaluate(spec, net, xs_val, y_val, loss_fn, 512)
            if history.end_epoch(epoch, logs, progress, lambda: save_weights(net, checkpoint)):
                break
    if has_val and checkpoint.exists():  # absent only if val_loss was never finite
        load_weights(net, checkpoint)
    net.eval()
    return history.epochs


@torch.inference_mode()
def predict(net, spec, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Runs inference (dropout off) on stored-form `x`; returns the output in contract layout
    (probabilities for a classifier, like Keras)."""
    net = deployable(net, spec)
    xs = to_tensors(x, spec)
    return torch.cat([net(*(t[i : i + batch_size] for t in xs)) for i in range(0, len(x), batch_size)]).numpy()


def save_weights(net, path: Path) -> None:
    """Writes the state dict as safetensors, atomically (temp file, then rename)."""
    tmp = path.with_name(".tmp-" + path.name)
    try:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp))
    except SafetensorError as exc:
        # safetensors reports a failed write ("I/O error: No space left on device (os error 28)")
        # as its own error; as the OSError it is, a full or read-only disk is exit 3, not a bug.
        tmp.unlink(missing_ok=True)
        found = re.search(r"\(os error (\d+)\)|Os \{ code: (\d+)", str(exc))  # newer, older safetensors
        if found is None:
            raise
        code = int(found.group(1) or found.group(2))
        raise OSError(code, os.strerror(code), str(path)) from None
    os.replace(tmp, path)


def load_weights(net, path: Path) -> None:
    """Loads weights written by save_weights; every key and shape must match.

    Raises:
        InputError: the file is missing, corrupt or belongs to another architecture.
    """
    try:
        net.load_state_dict(load_file(str(path)), strict=True)
    except (OSError, SafetensorError, RuntimeError) as exc:
        raise InputError(f"cannot load PyTorch weights from {path}: {first_line(exc)}") from None


def get_weights(net: nn.Module) -> dict[str, np.ndarray]:
    """The state dict as numpy arrays (copies), keyed like "dense1.weight"."""
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def set_weights(net: nn.Module, weights: dict[str, np.ndarray]) -> None:
    """Loads a dict from get_weights (or the porting engine); every key must match."""
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, strict=True)


@torch.inference_mode()
def activations(net, spec, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Outputs of the modules named `names` in the deployable model (see deployable) for input x."""
    net = deployable(net, spec)
    found = dict(net.named_modules())
    captured: dict[str, np.ndarray] = {}
    hooks = [
        # A recurrent module returns (every step's output, final state): the outputs are kept.
        found[name].register_forward_hook(lambda m, i, out, name=name: captured.__setitem__(
            name, (out[0] if isinstance(out, tuple) else out).numpy().copy()))
        for name in names
    ]
    try:
        net(*to_tensors(x, spec))
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def set_trainable(net: nn.Module, names: list[str] | None) -> None:
    """Freezes every parameter outside the modules named `names` (None: none frozen).

    requires_grad=False alone stops a BatchNorm's weights, not its statistics: in train() mode
    it still normalises with each batch's mean and variance and updates its running ones.
    train() therefore puts every BatchNorm without a trainable parameter in eval() mode, which
    is what Keras does for a frozen BatchNormalization (see xdl/spec/zoo/transfer.py).
    """
    for name, param in net.named_parameters():
        param.requires_grad = names is None or any(name.startswith(m + ".") for m in names)


def frozen_batchnorm_to_eval(net: nn.Module) -> None:
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()


def reinitialise(net: nn.Module, fresh: nn.Module, names: list[str]) -> None:
    """Gives the modules named `names` fresh initial weights (a new head): those of `fresh`, the
    same twin newly built, as a new model's would be."""
    fresh = dict(fresh.named_modules())
    for name in names:
        dict(net.named_modules())[name].load_state_dict(fresh[name].state_dict())


def disable_dropout(net: nn.Module) -> None:
    """Sets every Dropout's rate to 0, so training steps are deterministic."""
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """One optimizer step per (x, y) batch, in order; returns each step's loss (before the step)."""
    if optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=lr)
    else:
        opt = make_optimizer(net.parameters(), dataclasses.replace(spec.recipe, lr=lr))
    loss_fn = loss_function(spec)
    net.train()
    losses = []
    for x, y in batches:
        loss = loss_fn(net(*to_tensors(x, spec)), loss_targets(spec, x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    return losses


def deployable(net: nn.Module, spec) -> nn.Module:
    """The twin plus its head (softmax, sigmoid or none; see xdl/spec/tasks.py), in eval mode:
    what Keras keeps inside its model, PyTorch's fused losses keep outside."""
    return _Inference(net, spec.head).eval()


# The routes to ONNX this back end offers, the shipped one first (docs/routes.md compares them):
# torch.onnx's dynamo exporter (torch.export, then onnxscript) and its older TorchScript tracer.
EXPORT_ROUTES = ("dynamo", "torchscript")


def export(net: nn.Module, contract, opset: int, route: str = EXPORT_ROUTES[0], example=None):
    """Exports any module in eval mode on `contract` through torch.onnx, by `route`, with the
    contract's dynamic dims (the batch, and a sequence length where it has one) dynamic.
    `example` (numpy arrays, one per input) is what the exporter traces the module on: a
    user's own inputs (xdl.check); without it, zeros of the contract's shapes (the zoo's
    exports, whose bytes `xdl export check` pins).

    Returns the raw onnx.ModelProto; xdl.exporting.graph canonicalises names and proves the
    contract.
    """
    if example is not None:
        example = tuple(torch.from_numpy(np.array(x)) for x in example)
    else:  # an example of size 2 (and length 8): torch.export specialises a dim of size 1
        example = tuple(
            torch.zeros(tuple(2 if i == 0 else 8 if d is None else d for i, d in enumerate(t.shape)),
                        dtype=getattr(torch, t.dtype))
            for t in contract.inputs
        )
    names = {"input_names": [t.name for t in contract.inputs], "output_names": [t.name for t in contract.outputs]}
    if route == "torchscript":
        # The tracer names dynamic axes per input and output itself; the contract's names are
        # put back by xdl.exporting.graph.
        axes = {t.name: dict(t.dynamic_axes) for t in (*contract.inputs, *contract.outputs)}
        buffer = io.BytesIO()
        with _quiet_exporter():
            torch.onnx.export(net.eval(), example, buffer, dynamo=False, dynamic_axes=axes,
                              opset_version=opset, **names)
        return onnx.load_from_string(buffer.getvalue())
    dims: dict[str, torch.export.Dim] = {}  # inputs sharing a dim's name share the Dim
    shapes = tuple({axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in t.dynamic_axes.items()}
                   for t in contract.inputs)
    if isinstance(net, (_Inference, _Flat)):
        shapes = (shapes,)  # forward(*inputs): torch.export wants the shapes of the one *args tuple
    with _quiet_exporter():
        program = torch.onnx.export(net.eval(), example, dynamo=True, dynamic_shapes=shapes,
                                    opset_version=opset, verbose=False, **names)
    return program.model_proto


@torch.inference_mode()
def run(net: nn.Module, inputs: list[np.ndarray] | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Any module's outputs in eval mode for `inputs` (positional, or keywords by name), as named
    numpy arrays (xdl.backends.named_outputs: tensors in tuples, lists, dicts, output objects)."""
    if isinstance(inputs, dict):
        out = net.eval()(**{k: torch.from_numpy(np.array(x)) for k, x in inputs.items()})
    else:
        out = net.eval()(*(torch.from_numpy(np.array(x)) for x in inputs))
    return {k: t.numpy() for k, t in named_outputs(out, _output).items()}


def _output(value) -> torch.Tensor:
    return _traced_output(value).detach().cpu()


class _Flat(nn.Module):
    """A user's module as the exporter sees it: called by position (passed on as `keywords` when
    given), returning its outputs as one flat tuple in named_outputs' order, so that any output
    structure (a dict subclass torch.export does not know, nested tuples) becomes named outputs."""

    def __init__(self, net: nn.Module, keywords: list[str] | None):
        super().__init__()
        self.net, self.keywords = net, keywords

    def forward(self, *inputs):
        out = self.net(**dict(zip(self.keywords, inputs))) if self.keywords else self.net(*inputs)
        return tuple(named_outputs(out, _traced_output).values())


def _traced_output(value) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(type(value).__name__)
    return value


def flat(net: nn.Module, keywords: list[str] | None = None) -> nn.Module:
    """`net` called by position (its inputs passed on as the `keywords`, when given), returning
    its outputs flat, in xdl.backends.named_outputs' order: what xdl.check exports."""
    return _Flat(net, keywords)


def timed_paths(net: nn.Module, spec, feeds: dict[str, np.ndarray], compiled: bool = False) -> dict:
    """The ways a PyTorch user runs inference, each a call `xdl bench` times on `feeds` (contract
    layout, by input name): eager under inference_mode, and with `compiled` torch.compile too."""
    net = deployable(net, spec)
    inputs = [torch.from_numpy(a.copy()) for a in feeds.values()]

    def call(module=net):
        with torch.inference_mode():
            return module(*inputs)

    paths = {"torch eager": call}
    if compiled:
        faster = torch.compile(net)
        paths["torch.compile"] = lambda: call(faster)
    return paths


@contextlib.contextmanager
def _quiet_exporter():
    # The exporter logs that torchvision's ops are unregistered (xdl needs none) and torch's own
    # deprecation warnings; they would bury xdl's report. Errors still raise.
    # onnxscript's version converter logs a traceback when it falls back to onnx's (opset 17);
    # what it made is judged by xdl, not by its log.
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # the TorchScript tracer's notes on RNNs with batch_first and on shape inference
            warnings.simplefilter("ignore", UserWarning)
            # Every input's first axis is the same Dim("batch") on purpose; torch notes the sharing.
            warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
            # nn.LSTM's flattened weights, seen by the tracer; harmless for an eval-mode export.
            warnings.filterwarnings("ignore", message="The tensor attributes .* were assigned during export")
            warnings.filterwarnings("ignore", message=".*_check_is_size will be removed")
            warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def part(net: nn.Module, name: str) -> nn.Module:
    """A named sub-model (the autoencoder's "encoder" or "decoder"), weights shared."""
    return getattr(net, name)


def threads() -> dict:
    """PyTorch's thread setting, for benchmark records."""
    return {"torch_threads": torch.get_num_threads()}


def versions(route: str = EXPORT_ROUTES[0]) -> dict:
    """Versions of everything this back-end's results (exported by `route`) depend on."""
    import onnxscript

    return {
        "framework": "torch",
        "torch": torch.__version__,
        "exporter": EXPORTERS[route],
        "exporter_version": f"torch {torch.__version__}"
        + (f", onnxscript {onnxscript.__version__}" if route == "dynamo" else ""),
    }


# Each route's exporter as manifests name it (`xdl export check` reads the route back from it).
EXPORTERS = {"dynamo": "torch.onnx (dynamo)", "torchscript": "torch.onnx (TorchScript)"}

# The routes xdl check tries on a user's model, in order, while a route's graph does not take
# the model's inputs (a failure to export is said at once: the TorchScript tracer would follow
# the one branch the example takes where torch.export refuses a data-dependent branch).
CHECK_ROUTES = EXPORT_ROUTES
