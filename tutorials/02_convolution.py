# %% [markdown]
# # 2. Convolution, pooling, overfitting: the CNN
#
# A convolution slides one small kernel over the whole image: the same few weights are used at
# every position (**weight sharing**), so a pattern learned in one corner is recognised
# everywhere. **Pooling** keeps the strongest response in each window and halves the size.
# This tutorial trains the articles' CNN in both frameworks on `shapes` (32x32 colour shapes at
# random positions), watches it **overfit**, and stops it with a validation set, **early
# stopping** and **checkpoints**, the way each framework does it.

# %%
import tempfile
from pathlib import Path

import numpy as np

from xdl import backends, data
from xdl.spec import registry, tasks
from xdl.teach.helpers import pyplot, save_figure, source

plt = pyplot()
spec = registry.get("cnn")
shapes = data.load("shapes", seed=0, validation_split=0.1).subset(train=2400, test=500)
print(f"{len(shapes.x_train)} training, {len(shapes.x_val)} validation, {len(shapes.x_test)} test images")

# %% [markdown]
# ## Weight sharing in numbers
# A 3x3 convolution from 32 to 64 channels has 3*3*32*64 + 64 = 18,496 weights whatever the image
# size. A dense layer between the same activations (13x13x32 in, 13x13x64 out) would need
# 5408 * 10816 + 10816, over 58 million.

# %%
print("conv2:", 3 * 3 * 32 * 64 + 64, "weights; dense equivalent:", 13 * 13 * 32 * 13 * 13 * 64 + 13 * 13 * 64)

# %% keras: the model
from xdl.models.cnn import keras as cnn_keras

print(source(cnn_keras.build))

# %% torch: the model
from xdl.models.cnn import torch as cnn_torch

print(source(cnn_torch.build))

# %% [markdown]
# ## Pooling
# MaxPool(2) keeps the largest of each 2x2 window: the feature map halves, and a feature moved
# by a pixel inside its window gives the same pooled map (across a window edge, the pooled
# response moves by one cell: half the distance it would move unpooled).

# %%
import keras

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
# On 2,400 images the network soon fits the training set better than new images: the
# training loss keeps falling while the validation loss turns up. The validation set (10% of
# the training data, never trained on) shows when; Keras's `ModelCheckpoint` keeps the best
# epoch's weights, `EarlyStopping` stops after 3 epochs without improvement. PyTorch has no
# callbacks: its loop does the same by hand.

# %% keras: fit with callbacks
# What xdl.backends.keras.train does for the spec's recipe, in short:
#   model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
#   model.fit(x, y, validation_data=(x_val, y_val), callbacks=[
#       ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True),
#       EarlyStopping(monitor="val_loss", patience=3)])
#   model.load_weights(path)   # the best epoch, not the last
kfw = backends.load("keras")
kfw.seed_everything(0)
knet = kfw.build(spec)
keras_history = kfw.train(knet, spec, shapes, epochs=12, checkpoint=Path(tempfile.mkdtemp()) / "best.weights.h5",
                          show_progress=False)

# %% torch: the same loop, by hand
# What xdl.backends.torch.train does, in short:
#   for epoch ...: model.train(); for batch ...: loss.backward(); optimizer.step()
#                  model.eval(); val_loss = ...
#                  if val_loss < best: save_weights(model, path); stale = 0
#                  else: stale += 1; if stale >= patience: break
#   load_weights(model, path)
tfw = backends.load("torch")
tfw.seed_everything(0)
tnet = tfw.build(spec)
torch_history = tfw.train(tnet, spec, shapes, epochs=12, checkpoint=Path(tempfile.mkdtemp()) / "best.safetensors",
                          show_progress=False)

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
for name, fw, net in (("keras", kfw, knet), ("torch", tfw, tnet)):
    acc = tasks.score("classification", fw.predict(net, spec, shapes.x_test), shapes.x_test, shapes.y_test)
    print(f"{name}: test accuracy {acc:.4f} with the best epoch's weights")
print("(on 2,400 images; the committed models, trained on 5,400 for up to 50 epochs, reach 0.96-0.98)")

# %% [markdown]
# The opposite failure, **underfitting**, is a model too small or trained too briefly to fit even
# the training set: both losses stay high together. Where the validation curve turns up is where
# more capacity stops helping and regularisation starts to.
#
# ## Dropout, L1 and L2 regularisation
# Dropout zeroes a random half of the activations in training only; at inference the layer
# passes everything (Keras scales by 1/(1-rate) in training, PyTorch too). L2 regularisation
# adds lambda * sum(w^2) to the loss. Keras writes it on the layer
# (`kernel_regularizer=keras.regularizers.L2(lam)`); PyTorch usually writes it as the
# optimizer's `weight_decay`, which adds `weight_decay * w` to the gradient, so the same
# penalty is `weight_decay = 2 * lam`:

# %%
import torch

lam, w = 1e-3, np.array([0.5, -2.0], np.float32)
# L1 (lambda * sum|w|) pushes small weights to exactly zero; PyTorch has no optimizer switch for
# it, so it is added to the loss by hand.
print(f"Keras L1 penalty {float(keras.regularizers.L1(lam)(w)):.6f} = lam * sum|w| = {lam * np.abs(w).sum():.6f}")
keras_penalty = float(keras.regularizers.L2(lam)(w))
wt = torch.tensor(w, requires_grad=True)
(lam * (wt**2).sum()).backward()
print(f"Keras L2 penalty {keras_penalty:.6f} = lam * sum(w^2) = {lam * (w**2).sum():.6f}")
print(f"its gradient {wt.grad.numpy()} = weight_decay * w with weight_decay = 2 * lam: {2 * lam * w}")
