"""Keras 3 (TensorFlow backend): train, predict, save/load weights and export to ONNX.

The same functions, in the same order, live in torch.py; read the two side by side.
Arrays cross this module's boundary channels-last, which is also Keras's own layout.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

from xdl.backends import named_outputs, quiet_tensorflow_import

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

with quiet_tensorflow_import():  # a no-op when backends.load already imported them
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402
import numpy as np  # noqa: E402

tf.get_logger().setLevel("ERROR")  # its retracing notes after a re-compile() (transfer phases) are expected

from xdl.backends.progress import TrainingProgress  # noqa: E402
from xdl.errors import InputError, first_line  # noqa: E402
from xdl.spec import optimizers, tasks  # noqa: E402

WEIGHTS_FILE = "model.weights.h5"  # Keras insists on the .weights.h5 suffix


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and TensorFlow (initial weights, dropout, shuffling)."""
    keras.utils.set_random_seed(seed)


def count_params(net: keras.Model) -> int:
    """Counts trainable parameters (what the spec's param_count states)."""
    return int(sum(np.prod(w.shape) for w in net.trainable_weights))


def make_optimizer(cfg) -> keras.optimizers.Optimizer:
    """The spec's optimizer with every setting explicit (see xdl/spec/optimizers.py)."""
    if cfg.optimizer == "rmsprop":
        o = optimizers.RMSPROP
        return keras.optimizers.RMSprop(
            learning_rate=cfg.lr, rho=o["rho"], epsilon=o["epsilon"], momentum=o["momentum"]
        )
    if cfg.optimizer == "adam":
        o = optimizers.ADAM
        beta_1 = o["beta_1"] if cfg.beta_1 is None else cfg.beta_1
        return keras.optimizers.Adam(learning_rate=cfg.lr, beta_1=beta_1, beta_2=o["beta_2"], epsilon=o["epsilon"])
    raise InputError(f"unknown optimizer {cfg.optimizer!r}; known: {', '.join(optimizers.KNOWN)}")


class _ProgressCallback(keras.callbacks.Callback):
    """Feeds Keras's fit() loop into xdl's shared progress display."""

    def __init__(self, progress: TrainingProgress):
        super().__init__()
        self.progress = progress

    def on_epoch_begin(self, epoch, logs=None):
        self.progress.epoch_begin(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.progress.step(float(logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.progress.epoch_end(epoch, logs)


def train(net, spec, data, *, epochs: int, checkpoint: Path, show_progress: bool = True) -> dict:
    """Trains `model` on `data` with the spec's recipe, the Keras way: compile() then fit().

    With a validation set, the best epoch by val_loss is checkpointed to `checkpoint` and
    restored at the end, and training stops early after `early_stopping_patience` epochs
    without improvement (ModelCheckpoint + EarlyStopping, as the articles teach).

    Returns:
        The history: per-epoch lists of loss, accuracy (and val_loss, val_accuracy); no
        accuracy for regression and reconstruction.
    """
    cfg = spec.recipe
    task = tasks.get(spec.task)
    net.compile(
        optimizer=make_optimizer(cfg),
        loss=task.keras_loss,  # xdl/spec/tasks.py pairs each with the PyTorch loss of the same number
        metrics=["accuracy"] if task.train_accuracy else [],
    )
    steps = -(-len(data.x_train) // cfg.batch_size)
    has_val = len(data.x_val) > 0
    with TrainingProgress(f"{spec.name}/keras", epochs, steps, show_progress) as progress:
        callbacks = [_ProgressCallback(progress)]
        if has_val:
            callbacks.append(
                keras.callbacks.ModelCheckpoint(
                    str(checkpoint), monitor="val_loss", save_best_only=True, save_weights_only=True
                )
            )
            if cfg.early_stopping_patience:
                callbacks.append(
                    keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg.early_stopping_patience)
                )
        history = net.fit(
            call_inputs(spec, data.x_train),
            task.targets(data.x_train, data.y_train),
            batch_size=cfg.batch_size,
            epochs=epochs,
            validation_data=(call_inputs(spec, data.x_val), task.targets(data.x_val, data.y_val))
            if has_val else None,
            shuffle=True,
            verbose=0,
            callbacks=callbacks,
        )
    if has_val and checkpoint.exists():  # absent only if val_loss was never finite
        net.load_weights(str(checkpoint))
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def call_inputs(spec, x):
    """What a Keras model is called with: the array, or a list of arrays for several inputs."""
    arrays = spec.model_inputs(x)
    return arrays[0] if len(arrays) == 1 else arrays


def _signature(contract) -> list:
    """One tf.TensorSpec per input, channels-last, batch (and a dynamic length) as None."""
    return [tf.TensorSpec((None, *t.channels_last_shape), t.dtype, name=t.name) for t in contract.inputs]


def _inference_function(net, contract):
    """The model in inference mode as a tf.function traced once for any batch (and length)."""
    if len(contract.inputs) == 1:
        return tf.function(lambda x: net(x, training=False), input_signature=_signature(contract))
    return tf.function(lambda *xs: net(list(xs), training=False), input_signature=_signature(contract))


def predict(net, spec, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Runs inference (dropout off) on stored-form `x`; returns the output in contract layout
    (probabilities for a classifier, as Keras keeps the head in the model).

    Calls a compiled tf.function rather than model.predict(), which costs ~40 ms of set-up per
    call; the numbers are the same.
    """
    forward = _inference_function(net, spec.contract)
    parts = []
    for i in range(0, len(x), batch_size):
        parts.append(forward(*(tf.constant(a) for a in spec.model_inputs(x[i : i + batch_size]))).numpy())
    return spec.output.to_contract(np.concatenate(parts))


def save_weights(net, path: Path) -> None:
    """Writes the weights as HDF5 (no pickle), atomically (temp file, then rename).

    A compiled Keras 3 model also writes its optimizer's slots (RMSprop doubles the file, Adam
    triples it); an uncompiled clone carries the model's weights alone, as PyTorch's file does.
    """
    tmp = path.with_name(".tmp-" + path.name)
    bare = type(net).from_config(net.get_config())  # clone_model would keep compile()
    weights = net.get_weights()
    bare.set_weights(weights)
    _refuse_a_full_disk(tmp, sum(w.nbytes for w in weights), path)
    try:
        bare.save_weights(str(tmp))
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk or Ctrl-C mid-write: no half file stays beside the target
        raise
    os.replace(tmp, path)


def _refuse_a_full_disk(tmp: Path, nbytes: int, path: Path) -> None:
    """Raises ENOSPC before HDF5 writes, when the disk cannot hold the weights: h5py reports a
    write that fails for want of space, but the half-open file it leaves crashes the process as
    it exits (exit 139 after the right message; measured on a full tmpfs with h5py 3). A disk
    that fills during the write still gets that; one already full gets the documented exit 3."""
    import errno

    if not hasattr(os, "statvfs"):
        return
    tmp.parent.mkdir(parents=True, exist_ok=True)
    disk = os.statvfs(tmp.parent)
    if disk.f_bavail * disk.f_frsize < nbytes + (1 << 20):  # HDF5's headers: well under a MiB here
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def load_weights(net, path: Path) -> None:
    """Loads weights written by save_weights.

    Raises:
        InputError: the file is missing, corrupt or belongs to another architecture.
    """
    try:
        net.load_weights(str(path))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"cannot load Keras weights from {path}: {first_line(exc)}") from None


def leaf_layers(net):
    """Every layer that is not itself a model, depth first: an autoencoder's encoder and
    decoder are models, and their layers are what a port table names."""
    for layer in net.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer)
        else:
            yield layer


def get_weights(net) -> dict[str, list[np.ndarray]]:
    """Each layer's weights (kernel, bias, ...) as numpy arrays, keyed by layer name."""
    return {layer.name: layer.get_weights() for layer in leaf_layers(net) if layer.weights}


def set_weights(net, weights: dict[str, list[np.ndarray]]) -> None:
    """Loads a dict from get_weights (or the porting engine) layer by layer."""
    layers = {layer.name: layer for layer in leaf_layers(net)}
    for name, arrays in weights.items():
        layers[name].set_weights(arrays)


def activations(net, spec, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Outputs of the layers named `names` for input x, in inference mode (channels-last)."""
    inputs = net.inputs[0] if len(net.inputs) == 1 else net.inputs  # the structure it was built with
    probe = keras.Model(inputs, [net.get_layer(name).output for name in names])
    outputs = probe(call_inputs(spec, x), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {name: np.asarray(out) for name, out in zip(names, outputs)}


def set_trainable(net, names: list[str] | None) -> None:
    """Freezes every layer not named in `names` (None: none frozen); train() compiles afterwards, which
    is when Keras takes the change into account.

    A frozen BatchNormalization also runs in inference mode: it normalises with its moving
    statistics and stops updating them (Keras 3 semantics; see xdl/spec/zoo/transfer.py).
    """
    for layer in leaf_layers(net):
        layer.trainable = names is None or layer.name in names


def reinitialise(net, fresh, names: list[str]) -> None:
    """Gives the layers named `names` fresh initial weights (a new head): those of `fresh`, the
    same twin newly built, as a new model's would be."""
    fresh = {layer.name: layer for layer in leaf_layers(fresh)}
    for name in names:
        net.get_layer(name).set_weights(fresh[name].get_weights())


def disable_dropout(net) -> None:
    """Sets every Dropout's rate to 0, so training steps are deterministic."""
    for layer in leaf_layers(net):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """One optimizer step per (x, y) batch, in order; returns each step's loss (before the step).

    A GradientTape loop rather than fit(), so that each step's loss can be compared with
    PyTorch's step by step.
    """
    if optimizer == "sgd":
        opt = keras.optimizers.SGD(learning_rate=lr)
    else:
        opt = make_optimizer(dataclasses.replace(spec.recipe, lr=lr))
    loss_fn = keras.losses.get(tasks.get(spec.task).keras_loss)
    losses = []
    for x, y in batches:
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(loss_fn(tasks.get(spec.task).targets(x, y), net(call_inputs(spec, x), training=True)))
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        losses.append(float(loss))
    return losses


def deployable(net, spec) -> keras.Model:
    """The model as deployed: a Keras model keeps its output activation inside, so itself."""
    return net


# The routes to ONNX this back end offers, the shipped one first (docs/routes.md compares them):
# tf2onnx on a traced tf.function; Keras's own model.export (which runs tf2onnx on TensorFlow);
# and the same Keras model on Keras's torch backend, exported there through torch.onnx.
EXPORT_ROUTES = ("tf2onnx", "keras-export", "keras-on-torch")

# Each route's exporter as manifests name it (`xdl export check` reads the route back from it).
EXPORTERS = {"tf2onnx": "tf2onnx", "keras-export": "keras model.export (tf2onnx)",
             "keras-on-torch": "keras model.export (torch backend, torch.onnx)"}

# The routes xdl check tries on a user's model, in order, while a route's graph does not take
# the model's inputs: tf2onnx on a tf.function turns keras.applications' normalisation constants
# (a Normalization layer's mean and variance) into graph inputs, and so does model.export; a
# SavedModel frozen by tf2onnx's converter keeps them constants.
CHECK_ROUTES = ("tf2onnx", "saved-model", "keras-export")


def export(net, contract, opset: int, route: str = EXPORT_ROUTES[0], example=None):
    """Exports any Keras model called in inference mode on `contract`, by `route`. Every route
    traces the model on the contract's signature (tf.TensorSpecs), not on values: `example`
    (a user's inputs, which torch.export traces on) changes nothing here.

    tf2onnx (the shipped route) works from a tf.function: its from_keras fails on Keras 3.
    Image inputs are declared channels-last, as the model is, and tf2onnx's inputs_as_nchw
    puts a Transpose in front so the ONNX graph takes NCHW like the PyTorch export does;
    outputs_as_nchw does the same for image outputs (an autoencoder's reconstruction), where
    tf2onnx wants the traced graph's tensor names. The other routes have no layout option and
    export the model wrapped on its contract instead (_on_contract); "saved-model" (a user's
    model, in its own layout: xdl check) saves it as a SavedModel that tf2onnx converts, as
    `python -m tf2onnx.convert --saved-model` does. Returns the raw onnx.ModelProto;
    xdl.exporting.graph canonicalises names and proves the contract.
    """
    if route == "saved-model":
        return _export_saved_model(net, contract, opset)
    if route != "tf2onnx":
        return _export_on_contract(_on_contract(net, contract), opset, route)
    import tf2onnx

    signature = _signature(contract)
    # Traced here without an input_signature of its own; from_function is given the signature.
    if len(signature) == 1:
        forward = tf.function(lambda x: net(x, training=False))
    else:
        forward = tf.function(lambda *xs: net(list(xs), training=False))
    nchw_in = [t.name for t in contract.inputs if t.layout == "NCHW"]
    nchw_out = None
    if any(t.layout == "NCHW" for t in contract.outputs):
        traced = forward.get_concrete_function(*signature).outputs
        nchw_out = [traced[i].name for i, t in enumerate(contract.outputs) if t.layout == "NCHW"]
    proto, _ = tf2onnx.convert.from_function(
        forward, input_signature=signature, opset=opset, inputs_as_nchw=nchw_in or None, outputs_as_nchw=nchw_out,
    )
    return proto


def _on_contract(net, contract) -> keras.Model:
    """`net` taking and giving tensors in the contract's layout: a Permute turns NCHW images
    into the NHWC the Keras layers want, and another turns an image output back. A user's
    model (`flat`) gives its outputs as a list, one per contract output."""
    inputs = [keras.Input(shape=t.shape[1:], dtype=t.dtype, name=t.name) for t in contract.inputs]
    nhwc = [keras.layers.Permute((2, 3, 1))(x) if t.layout == "NCHW" else x for x, t in zip(inputs, contract.inputs)]
    ys = net(nhwc[0] if len(nhwc) == 1 else nhwc, training=False)
    ys = ys if isinstance(net, _Flat) else [ys]
    ys = [keras.layers.Permute((3, 1, 2))(y) if t.layout == "NCHW" else y for y, t in zip(ys, contract.outputs)]
    named = [keras.layers.Identity(name=t.name)(y) for y, t in zip(ys, contract.outputs)]
    return keras.Model(inputs, named[0] if len(named) == 1 else named)


def _export_saved_model(net, contract, opset: int):
    """`net` (a user's model or its `flat` wrapper, in the model's own layout) saved as a
    SavedModel whose signature returns the outputs in order, then converted by tf2onnx as its
    command line converts a SavedModel: frozen, with the model's constants kept constants."""
    import tempfile

    import tf2onnx
    from tf2onnx import tf_loader

    module = tf.Module()
    module.net = net.net if isinstance(net, _Flat) else net  # tracked: the SavedModel holds its variables

    def serve(*xs):
        out = net(xs[0] if len(xs) == 1 else list(xs), training=False)
        # a signature's outputs are a dict, which TensorFlow orders by key: keys that sort by position
        return {f"output_{i:06d}": y for i, y in enumerate(out if isinstance(out, list) else [out])}

    module.serve = tf.function(serve, input_signature=_signature(contract))
    with tempfile.TemporaryDirectory(prefix="xdl-saved-model-") as tmp:
        tf.saved_model.save(module, tmp, signatures=module.serve.get_concrete_function())
        graph_def, inputs, outputs, renames = tf_loader.from_saved_model(
            tmp, None, None, tag="serve", signatures=["serving_default"], return_tensors_to_rename=True)
    proto, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=inputs, opset=opset,
                                             output_names=sorted(outputs, key=renames.get))
    return proto


def _export_on_contract(model: keras.Model, opset: int, route: str):
    """model.export(format="onnx") here, or, for "keras-on-torch", in a child process with
    KERAS_BACKEND=torch (a process runs one Keras backend), handed the model as a .keras file."""
    import tempfile

    import onnx

    with tempfile.TemporaryDirectory(prefix="xdl-export-") as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        if route == "keras-export":
            signature = [tf.TensorSpec(x.shape, x.dtype, name=x.name) for x in model.inputs]
            warnings.filterwarnings("ignore", message=".*np.object", category=FutureWarning)  # Keras's tf2onnx shim
            model.export(str(onnx_path), format="onnx", opset_version=opset, verbose=False,
                         input_signature=[signature] if len(signature) > 1 else signature)
        elif route == "keras-on-torch":
            from xdl.backends import keras_on_torch

            model.save(Path(tmp) / "model.keras")
            keras_on_torch.export_in_child(Path(tmp) / "model.keras", onnx_path, opset, _own_modules(model))
        else:
            raise InputError(f"unknown Keras export route {route!r}; use one of: {', '.join(EXPORT_ROUTES)}")
        return onnx.load(str(onnx_path))


def _own_modules(net) -> list[str]:
    """The modules that define `net`'s own layer and model classes, not Keras's (the recommender's
    GlobalBias): a process that loads the net from a .keras file imports them first, so that the
    classes are registered with Keras when it meets their names."""
    def classes(layer):
        yield type(layer)
        for inner in getattr(layer, "layers", ()):
            yield from classes(inner)

    return sorted({c.__module__ for c in classes(net) if c.__module__.split(".")[0] != "keras"})


def part(net, name: str):
    """A named sub-model (the autoencoder's "encoder" or "decoder"), weights shared."""
    return net.get_layer(name)


def run(net, inputs: list[np.ndarray] | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Any Keras model's outputs in inference mode for `inputs` (positional, or a dict by name),
    as named numpy arrays (xdl.backends.named_outputs)."""
    arg = inputs if isinstance(inputs, dict) else inputs[0] if len(inputs) == 1 else list(inputs)
    return {k: np.asarray(t) for k, t in named_outputs(net(arg, training=False), _tensor).items()}


def _tensor(value):
    # KerasTensors: a user's model wrapped on its contract (_on_contract) is called symbolically
    if not (tf.is_tensor(value) or isinstance(value, (np.ndarray, keras.KerasTensor))):
        raise TypeError(type(value).__name__)
    return value


class _Flat:
    """A user's model as tf2onnx traces it: called by position (one input, or a list), passed on
    as a dict by `keywords` when given, returning its outputs as one flat list in named_outputs'
    order (a dict's keys would otherwise come out sorted, as TensorFlow's nest flattens)."""

    def __init__(self, net, keywords: list[str] | None):
        self.net, self.keywords = net, keywords

    def __call__(self, inputs, training=False):
        if self.keywords:
            inputs = dict(zip(self.keywords, inputs if isinstance(inputs, (list, tuple)) else [inputs]))
        return list(named_outputs(self.net(inputs, training=training), _tensor).values())


def flat(net, keywords: list[str] | None = None):
    """`net` called by position (its inputs passed on as a dict by `keywords`, when given),
    returning its outputs flat, in xdl.backends.named_outputs' order: what xdl.check exports."""
    return _Flat(net, keywords)


def timed_paths(net, spec, feeds: dict[str, np.ndarray], compiled: bool = False) -> dict:
    """The ways a Keras user runs inference, each a call `xdl bench` times on `feeds` (contract
    layout, by input name): the model called directly, the tf.function predict() uses (one trace
    for any batch) and model.predict() itself. `compiled` has no Keras counterpart here."""
    inputs = [tf.constant(a) for a in spec.model_inputs(spec.from_feeds(feeds))]  # channels-last
    arg = inputs[0] if len(inputs) == 1 else inputs
    forward = _inference_function(net, spec.contract)
    return {
        "keras model(x)": lambda: net(arg, training=False),
        "keras tf.function": lambda: forward(*inputs),
        "keras predict": lambda: net.predict(arg, verbose=0, batch_size=len(inputs[0])),
    }


def threads() -> dict:
    """TensorFlow's thread setting, for benchmark records."""
    return {"tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default"}


def versions(route: str = EXPORT_ROUTES[0]) -> dict:
    """Versions of everything this back-end's results (exported by `route`) depend on."""
    import tf2onnx

    exporter = f"keras {keras.__version__}, torch {_torch_version()}" if route == "keras-on-torch" else tf2onnx.__version__
    return {
        "framework": "keras",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "exporter": EXPORTERS[route],
        "exporter_version": exporter,
    }


def _torch_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        return "not installed"
