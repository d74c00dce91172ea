# %% [markdown]
# # 2. Convolution, pooling, overfitting: the CNN
#
# A convolution slides one small kernel over the whole image: the same few weights are used at
# every position (**weight sharing**), so a pattern learned in one corner is recognised
# everywhere. **Pooling** keeps the strongest response in each window and halves the size.
# This tutorial trains the articles' CNN in both frameworks on `shapes` (32x32 colour shapes at
# random positions), watches it **overfit**, and stops it with a validation set, **early
# stopping** and **checkpoints**, the way each framework does it.
#
# **Goals**
# - count the weights a convolution shares and see what pooling keeps
# - recognise overfitting on the loss curves and stop it with a validation set, early stopping
#   and checkpoints, with Keras's callbacks and with the same logic in a PyTorch loop
# - switch dropout on and off in both frameworks and check what it does to a layer's output
# - write L1 and L2 penalties in both frameworks
#
# **Prerequisites**: lesson 1, `01_first_network` (layers, losses, `compile()` + `fit()` against
# a PyTorch loop, validation sets).

# %%
import tempfile
from pathlib import Path

import keras
import numpy as np
import torch

from xdl import data
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# shown (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("cnn")
shapes = data.load("shapes", seed=0, validation_split=0.1).subset(train=1200, test=500)
print(f"{len(shapes.x_train)} training, {len(shapes.x_val)} validation, {len(shapes.x_test)} test images")
EPOCHS = lesson_size(20)  # at most: early stopping ends sooner
LR = 3e-3  # three times the recipe's rate (xdl/spec/zoo/cnn.py): the lesson fits in about a minute


def nchw(images: np.ndarray) -> torch.Tensor:
    """xdl's data sets store images channels-last, as Keras wants them; PyTorch wants channels first."""
    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())

# %% [markdown]
# ## Weight sharing in numbers
# A 3x3 convolution from 32 to 64 channels has $3 \cdot 3 \cdot 32 \cdot 64 + 64$ =
# {glue:text}`cnn_conv2_weights:,d` weights whatever the image size. A dense layer between the same
# activations (13x13x32 in, 13x13x64 out) would need $5408 \cdot 10816 + 10816$ =
# {glue:text}`cnn_dense_equivalent_weights:,d`.

# %%
conv2_weights = 3 * 3 * 32 * 64 + 64
dense_weights = 13 * 13 * 32 * 13 * 13 * 64 + 13 * 13 * 64
glue("cnn_conv2_weights", conv2_weights)
glue("cnn_dense_equivalent_weights", dense_weights)
print(f"conv2: {conv2_weights:,} weights; dense equivalent: {dense_weights:,}")

# %% keras: the model
from xdl.models.cnn import keras as cnn_keras

show_code(cnn_keras.build)

# %% torch: the model
from xdl.models.cnn import torch as cnn_torch

show_code(cnn_torch.build)

# %% [markdown]
# ## Pooling
# MaxPool(2) keeps the largest of each 2x2 window: the feature map halves, and a feature moved
# by a pixel inside its window gives the same pooled map (across a window edge, the pooled
# response moves by one cell: half the distance it would move unpooled).

# %%
image = np.zeros((1, 8, 8, 1), np.float32)
image[0, 2, 2, 0] = 1.0  # one bright pixel
pool = keras.layers.MaxPooling2D(2)
for shift in (1, 2):
    moved = np.roll(image, shift, axis=2)  # moved right
    same = np.array_equal(np.asarray(pool(image)), np.asarray(pool(moved)))
    print(f"moved {shift} pixel(s) right: pooled map unchanged: {same}")
print("pooled map:\n", np.asarray(pool(image))[0, :, :, 0])

# %% [markdown]
# ## Overfitting, validation, early stopping and checkpoints
# On 1,200 images the network soon fits the training set better than new images: the
# training loss keeps falling while the validation loss turns up. The validation set (10% of
# the training data, never trained on) shows when; Keras's `ModelCheckpoint` keeps the best
# epoch's weights, `EarlyStopping` stops after 3 epochs without improvement. PyTorch has no
# callbacks: its loop does the same by hand.

# %% keras: fit with callbacks
keras.utils.set_random_seed(0)
keras_model = cnn_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR, epsilon=1e-7),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
best_keras = Path(tempfile.mkdtemp()) / "best.weights.h5"
fit = keras_model.fit(
    shapes.x_train, shapes.y_train, batch_size=128, epochs=EPOCHS, verbose=0,
    validation_data=(shapes.x_val, shapes.y_val),
    callbacks=[keras.callbacks.ModelCheckpoint(best_keras, monitor="val_loss", save_best_only=True,
                                               save_weights_only=True),
               keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)],
)
keras_model.load_weights(best_keras)  # the best epoch's weights, not the last epoch's
keras_history = fit.history

# %% torch: the same loop, by hand
torch.manual_seed(0)
torch_model = cnn_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=LR, eps=1e-7)  # PyTorch's eps default: 1e-8
loss_fn = torch.nn.CrossEntropyLoss()
x, y = nchw(shapes.x_train), torch.from_numpy(shapes.y_train)
x_val, y_val = nchw(shapes.x_val), torch.from_numpy(shapes.y_val)
best_torch = Path(tempfile.mkdtemp()) / "best.pt"
torch_history, best, stale = {"loss": [], "val_loss": []}, float("inf"), 0
for epoch in range(EPOCHS):
    torch_model.train()
    total = 0.0
    for idx in torch.randperm(len(x)).split(128):
        loss = loss_fn(torch_model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    torch_model.eval()
    with torch.no_grad():
        val_loss = loss_fn(torch_model(x_val), y_val).item()
    torch_history["loss"].append(total / len(x))
    torch_history["val_loss"].append(val_loss)
    if val_loss < best:  # ModelCheckpoint(save_best_only=True)
        best, stale = val_loss, 0
        torch.save(torch_model.state_dict(), best_torch)
    else:  # EarlyStopping(patience=3)
        stale += 1
        if stale >= 3:
            break
torch_model.load_state_dict(torch.load(best_torch))  # the best epoch's weights
torch_model.eval()  # dropout off for the test below

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, (name, h) in zip(axes, (("keras", keras_history), ("torch", torch_history))):
    ax.plot(h["loss"], label="training loss")
    ax.plot(h["val_loss"], label="validation loss")
    best = int(np.argmin(h["val_loss"]))
    ax.axvline(best, color="grey", linestyle=":", label=f"best epoch {best + 1} (restored)")
    ax.set_title(f"cnn in {name}: {len(h['loss'])} epochs run")
    ax.set_xlabel("epoch")
    ax.legend()
save_figure(fig, "02_overfitting")
_, keras_accuracy = keras_model.evaluate(shapes.x_test, shapes.y_test, verbose=0)
with torch.no_grad():
    torch_accuracy = (torch_model(nchw(shapes.x_test)).argmax(1).numpy() == shapes.y_test).mean()
print(f"keras: test accuracy {keras_accuracy:.4f}, torch: {torch_accuracy:.4f}, with the best epoch's weights")

# %% [markdown]
# ## Why the twins' numbers differ
# Both twins run the same recipe, yet their curves are not the same: "seed 0" means something
# different to Keras's and PyTorch's random generators, so each draws its own initial weights,
# shuffles and dropout masks. The loss first sits on a plateau near $\ln 10 \approx 2.3$ until the
# network finds a first useful feature, and when that happens varies by a few epochs from one
# draw to the next; after a couple of dozen epochs on 1,200 images that decides most of the gap.
# Trained to convergence on 5,400 images for up to 50 epochs, the committed twins end within the
# margin their spec states (and started from the same weights, with dropout off, the two take
# the same steps: `xdl parity steps cnn --steps 20`):

# %%
full = committed("cnn")  # xdl.teach.helpers: the committed twins' test accuracy, from their manifests
print(f"here: keras {keras_accuracy:.3f}, torch {torch_accuracy:.3f} (gap {abs(keras_accuracy - torch_accuracy):.3f})")
print(f"committed: keras {full['keras']:.3f}, torch {full['torch']:.3f} "
      f"(gap {abs(full['keras'] - full['torch']):.3f}, the spec's margin {spec.expectations.margin})")
glue("cnn_keras_acc", keras_accuracy)
glue("cnn_torch_acc", torch_accuracy)
glue("cnn_committed_keras_acc", full["keras"])
glue("cnn_committed_torch_acc", full["torch"])
glue("cnn_margin", spec.expectations.margin)

# %% [markdown]
# Here, on 1,200 images, Keras reaches {glue:text}`cnn_keras_acc:.3f` and PyTorch
# {glue:text}`cnn_torch_acc:.3f`; the committed twins reach {glue:text}`cnn_committed_keras_acc:.3f`
# and {glue:text}`cnn_committed_torch_acc:.3f`, within the spec's margin of
# {glue:text}`cnn_margin:.2f`.

# %% [markdown]
# The opposite failure, **underfitting**, is a model too small or trained too briefly to fit even
# the training set: both losses stay high together. Where the validation curve turns up is where
# more capacity stops helping and regularisation starts to.
#
# ## Dropout: on in training, off in inference
# Dropout zeroes each activation with probability $p$ in training only, and scales the ones it
# keeps by $1/(1-p)$ so that their expected value is unchanged; at inference the layer passes
# everything as it is. Keras switches with the call's `training=True/False` (`fit()` passes
# `True`, `predict()` and `evaluate()` `False`); PyTorch with the module's mode, `train()` and
# `eval()`. One layer with $p = 0.5$ on 10,000 ones, in each mode:

# %%
P = 0.5
ones = np.ones((1, 10_000), np.float32)

# %% keras: dropout on and off tags=["concept:dropout"]
dropout = keras.layers.Dropout(P)
on = np.asarray(dropout(ones, training=True))  # what fit() does
off = np.asarray(dropout(ones, training=False))  # what predict() and evaluate() do
kept = on != 0
keras_kept = kept.mean()
print(f"training=True: kept {keras_kept:.3f} of the values, each now {np.unique(on[kept])} (1/(1-p) = {1 / (1 - P)})")
print(f"training=False: output equals input: {np.array_equal(off, ones)}")
assert np.abs(on - ones * kept / (1 - P)).max() < 1e-6, "Keras's dropout is not mask * x / (1 - p)"
assert abs(keras_kept - (1 - P)) < 0.02 and np.array_equal(off, ones), "Keras's dropout keeps 1 - p, and none is off"

# %% torch: dropout on and off tags=["concept:dropout"]
layer = torch.nn.Dropout(P)
layer.train()  # what the loop sets before its training steps
on = layer(torch.from_numpy(ones)).numpy()
layer.eval()  # what the loop sets before validating and testing
off = layer(torch.from_numpy(ones)).numpy()
kept = on != 0
torch_kept = kept.mean()
print(f"train(): kept {torch_kept:.3f} of the values, each now {np.unique(on[kept])} (1/(1-p) = {1 / (1 - P)})")
print(f"eval(): output equals input: {np.array_equal(off, ones)}")
assert np.abs(on - ones * kept / (1 - P)).max() < 1e-6, "PyTorch's dropout is not mask * x / (1 - p)"
assert abs(torch_kept - (1 - P)) < 0.02 and np.array_equal(off, ones), "PyTorch's dropout keeps 1 - p, and none is off"

# %%
glue("cnn_dropout_kept_keras", keras_kept)
glue("cnn_dropout_kept_torch", torch_kept)

# %% [markdown]
# Keras kept {glue:text}`cnn_dropout_kept_keras:.3f` of the values and PyTorch
# {glue:text}`cnn_dropout_kept_torch:.3f`, each a random mask of its own, every kept value doubled;
# in inference mode both returned their input. A model that is evaluated while still in
# training mode (a PyTorch loop that forgets `eval()`, a Keras call with `training=True`) scores
# with a different random half of its network each time.
#
# ## L1 and L2 regularisation
# L2 regularisation adds $\lambda \sum_i w_i^2$ to the loss. Keras writes it on the layer
# (`kernel_regularizer=keras.regularizers.L2(lam)`); PyTorch usually writes it as the
# optimizer's `weight_decay`, which adds `weight_decay * w` to the gradient, so the same
# penalty is `weight_decay = 2 * lam` (the gradient of $\lambda w^2$ is $2 \lambda w$). L1,
# $\lambda \sum_i |w_i|$, pushes small weights to exactly zero:

# %%
lam, w = 1e-3, np.array([0.5, -2.0], np.float32)
# PyTorch has no optimizer switch for L1: it is added to the loss by hand.
print(f"Keras L1 penalty {float(keras.regularizers.L1(lam)(w)):.6f} = lam * sum|w| = {lam * np.abs(w).sum():.6f}")
keras_penalty = float(keras.regularizers.L2(lam)(w))
wt = torch.tensor(w, requires_grad=True)
(lam * (wt**2).sum()).backward()
print(f"Keras L2 penalty {keras_penalty:.6f} = lam * sum(w^2) = {lam * (w**2).sum():.6f}")
print(f"its gradient {wt.grad.numpy()} = weight_decay * w with weight_decay = 2 * lam: {2 * lam * w}")

# %% [markdown]
# ## Exercises
# 1. Set `EarlyStopping(patience=10)` in Keras and `stale >= 10` in the loop: how many epochs run,
#    and does the restored best epoch change?
# 2. Train on 5,400 images instead of 1,200 (`.subset(train=5400, ...)`): does the validation
#    loss still turn up, and how close do the two twins' test accuracies come?
# 3. In the dropout cells, set $p = 0.2$: what fraction is kept now, and by what are the kept
#    values scaled?
