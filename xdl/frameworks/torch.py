"""PyTorch: train, predict, save/load weights and export to ONNX.

The same functions, in the same order, live in keras.py; read the two side by side.
Arrays cross this module's boundary channels-last (xdl's data layout); PyTorch wants
channels-first, so images are transposed here, on the way in, and nowhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xdl import optimizers, registry
from xdl.errors import InputError
from xdl.progress import TrainingProgress

WEIGHTS_FILE = "model.safetensors"  # tensors only: loading it can never run code


def seed_everything(seed: int) -> None:
    """Seeds PyTorch (initial weights, dropout); shuffling uses its own NumPy generator."""
    torch.manual_seed(seed)


def build(spec) -> nn.Module:
    """Builds the model's PyTorch twin (logits out; see inference_model)."""
    return registry.builder(spec.name, "torch")(spec)


def keras_like_init(model: nn.Module) -> nn.Module:
    """Re-initialises Linear/Conv weights as Keras does: glorot_uniform kernels, zero biases.

    PyTorch's default is kaiming_uniform(a=sqrt(5)) weights and small uniform biases. Using the
    Keras scheme in both twins removes one difference a learner would otherwise have to explain
    when the two frameworks' accuracies are compared. Fan-in and fan-out are computed alike
    (in * kh * kw and out * kh * kw), so the distributions are identical.
    """
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return model


def inference_model(model: nn.Module, spec) -> nn.Module:
    """The twin plus the output activation Keras keeps inside its model (for predict/export)."""
    heads = {"softmax": nn.Softmax(dim=-1)}
    return nn.Sequential(OrderedDict([("model", model), (spec.head, heads[spec.head])])).eval()


def count_params(model: nn.Module) -> int:
    """Counts trainable parameters (what the spec's param_count states)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    """The spec's optimizer with every setting explicit (see xdl/optimizers.py)."""
    if cfg.optimizer == "rmsprop":
        o = optimizers.RMSPROP
        # PyTorch calls Keras's rho "alpha" and defaults it to 0.99 (Keras: 0.9).
        return torch.optim.RMSprop(
            params, lr=cfg.lr, alpha=o["rho"], eps=o["epsilon"], momentum=o["momentum"]
        )
    if cfg.optimizer == "adam":
        o = optimizers.ADAM
        return torch.optim.Adam(params, lr=cfg.lr, betas=(o["beta_1"], o["beta_2"]), eps=o["epsilon"])
    raise InputError(f"unknown optimizer {cfg.optimizer!r}; known: {', '.join(optimizers.KNOWN)}")


def _to_tensor(x: np.ndarray, spec) -> torch.Tensor:
    # contract layout is NCHW for images, which is PyTorch's own
    array = np.ascontiguousarray(spec.inputs[0].to_contract(x))
    # torch.from_numpy shares memory; arrays read from .pb files are read-only
    return torch.from_numpy(array if array.flags.writeable else array.copy())


@torch.no_grad()
def _evaluate(model, x, y, loss_fn, batch_size) -> tuple[float, float]:
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        total += loss_fn(logits, y[i : i + batch_size]).item() * len(logits)
        correct += (logits.argmax(1) == y[i : i + batch_size]).sum().item()
    return total / len(x), correct / len(x)


def train(model, spec, data, *, epochs: int, checkpoint: Path, show_progress: bool = True) -> dict:
    """Trains `model` on `data` with the spec's recipe, written out as PyTorch's explicit loop.

    Mirrors Keras's fit(): shuffled mini-batches, the epoch's mean training loss and accuracy,
    validation at each epoch end, the best epoch by val_loss checkpointed to `checkpoint` and
    restored at the end, early stopping after `early_stopping_patience` stale epochs.

    Returns:
        The history: per-epoch lists of loss, accuracy (and val_loss, val_accuracy).
    """
    cfg = spec.train
    x, y = _to_tensor(data.x_train, spec), torch.from_numpy(data.y_train)
    x_val, y_val = _to_tensor(data.x_val, spec), torch.from_numpy(data.y_val)
    optimizer = make_optimizer(model.parameters(), cfg)
    # Takes logits: log-softmax and negative log-likelihood fused, stabler than softmax + log.
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(cfg.seed)
    has_val = len(x_val) > 0
    history = {k: [] for k in ("loss", "accuracy", *(("val_loss", "val_accuracy") if has_val else ()))}
    best, stale = float("inf"), 0
    steps = -(-len(x) // cfg.batch_size)
    with TrainingProgress(f"{spec.name}/torch", epochs, steps, show_progress) as progress:
        for epoch in range(epochs):
            progress.epoch_begin(epoch)
            model.train()  # dropout on
            order = torch.from_numpy(rng.permutation(len(x)))
            total, correct = 0.0, 0
            for i in range(0, len(x), cfg.batch_size):
                idx = order[i : i + cfg.batch_size]
                logits = model(x[idx])
                loss = loss_fn(logits, y[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
                correct += (logits.argmax(1) == y[idx]).sum().item()
                progress.step(loss.item())
            logs = {"loss": total / len(x), "accuracy": correct / len(x)}
            if has_val:
                logs["val_loss"], logs["val_accuracy"] = _evaluate(model, x_val, y_val, loss_fn, 512)
            for k, v in logs.items():
                history[k].append(v)
            progress.epoch_end(epoch, logs)
            if not has_val:
                continue
            if logs["val_loss"] < best:
                best, stale = logs["val_loss"], 0
                save_weights(model, checkpoint)
            else:
                stale += 1
                if cfg.early_stopping_patience and stale >= cfg.early_stopping_patience:
                    break
    if has_val and checkpoint.exists():  # absent only if val_loss was never finite
        load_weights(model, checkpoint)
    model.eval()
    return history


@torch.inference_mode()
def predict(model, spec, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Runs inference (dropout off) on channels-last `x`; returns probabilities like Keras."""
    net = inference_model(model, spec)
    t = _to_tensor(x, spec)
    return torch.cat([net(t[i : i + batch_size]) for i in range(0, len(t), batch_size)]).numpy()


def save_weights(model, path: Path) -> None:
    """Writes the state dict as safetensors, atomically (temp file, then rename)."""
    tmp = path.with_name(".tmp-" + path.name)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, path)


def load_weights(model, path: Path) -> None:
    """Loads weights written by save_weights; every key and shape must match.

    Raises:
        InputError: the file is missing, corrupt or belongs to another architecture.
    """
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except (OSError, SafetensorError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise InputError(f"cannot load PyTorch weights from {path}: {first_line}") from None


def get_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """The state dict as numpy arrays (copies), keyed like "dense1.weight"."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def set_weights(model: nn.Module, weights: dict[str, np.ndarray]) -> None:
    """Loads a dict from get_weights (or the porting engine); every key must match."""
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, strict=True)


@torch.inference_mode()
def activations(model, spec, x: np.ndarray, modules: list[str]) -> dict[str, np.ndarray]:
    """Outputs of the named modules of the inference model (see inference_model) for input x."""
    net = inference_model(model, spec)
    found = dict(net.named_modules())
    captured: dict[str, np.ndarray] = {}
    hooks = [
        found[name].register_forward_hook(lambda m, i, out, name=name: captured.__setitem__(name, out.numpy().copy()))
        for name in modules
    ]
    try:
        net(_to_tensor(x, spec))
    finally:
        for hook in hooks:
            hook.remove()
    return captured


def disable_dropout(model: nn.Module) -> None:
    """Sets every Dropout's rate to 0, so training steps are deterministic."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def train_steps(model, spec, batches, optimizer: str, lr: float) -> list[float]:
    """One optimizer step per (x, y) batch, in order; returns each step's loss (before the step)."""
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr)
    else:
        opt = make_optimizer(model.parameters(), dataclasses.replace(spec.train, lr=lr))
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    losses = []
    for x, y in batches:
        loss = loss_fn(model(_to_tensor(x, spec)), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


def export_onnx(model, spec, opset: int):
    """Exports through torch.onnx's dynamo exporter with a dynamic batch dimension.

    Returns the raw onnx.ModelProto; xdl.export canonicalises names and checks the contract.
    """
    example = tuple(
        torch.zeros((2, *t.shape[1:]), dtype=getattr(torch, t.dtype)) for t in spec.inputs
    )
    return export_module(inference_model(model, spec), example, [t.name for t in spec.inputs],
                         [t.name for t in spec.outputs], opset)


def export_module(net: nn.Module, example: tuple, input_names: list[str], output_names: list[str], opset: int):
    """Exports any module in eval mode, every input's first dimension dynamic ("batch")."""
    batch = torch.export.Dim("batch")
    with _quiet_exporter():
        program = torch.onnx.export(
            net.eval(),
            example,
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=tuple({0: batch} for _ in example),
            opset_version=opset,
            verbose=False,
        )
    return program.model_proto


@torch.inference_mode()
def run_module(net: nn.Module, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Any module's outputs in eval mode, as numpy (a tensor or a tuple of tensors)."""
    out = net.eval()(*(torch.from_numpy(np.array(x)) for x in inputs))
    return [t.numpy() for t in (out if isinstance(out, (tuple, list)) else (out,))]


@contextlib.contextmanager
def _quiet_exporter():
    # The exporter logs that torchvision's ops are unregistered (xdl needs none) and torch's own
    # deprecation warnings; they would bury xdl's report. Errors still raise.
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            # Every input's first axis is the same Dim("batch") on purpose; torch notes the sharing.
            warnings.filterwarnings("ignore", message="# The axis name: batch will not be used")
            yield
    finally:
        logger.setLevel(level)


def versions() -> dict:
    """Versions of everything this back-end's results depend on."""
    import onnxscript

    return {
        "framework": "torch",
        "torch": torch.__version__,
        "exporter": "torch.onnx (dynamo)",
        "exporter_version": f"torch {torch.__version__}, onnxscript {onnxscript.__version__}",
    }
