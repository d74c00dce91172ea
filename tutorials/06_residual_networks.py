# %% [markdown]
# # 6. Normalisation and residual connections: a small ResNet
#
# Deeper networks should be at least as good as shallower ones, but stacked plain layers train
# badly: gradients fade through many layers. A **residual** block computes relu(F(x) + x): the
# layers learn only a correction F to their input, and the identity path carries signal and
# gradient straight through. When the shape changes (more channels, stride 2), a 1x1
# convolution projects the shortcut. **Batch normalisation** rescales each channel to mean 0 and
# variance 1 over the batch while training, and with running averages at inference.
#
# **Goals**
# - normalise a network's inputs with Keras's `Normalization` layer and with PyTorch tensors, and
#   check that both compute $(x - \mu) / \sigma$
# - say what BatchNorm does in training and in inference, and how each framework switches
# - write a residual block in both frameworks, and see why its shortcut keeps gradients alive
# - pad a stride-2 convolution the way TensorFlow does, in PyTorch
#
# **Prerequisites**: lesson 2, `02_convolution` (convolutions, pooling, overfitting, dropout's
# training and inference modes); lesson 4's vanishing gradients help but are not needed.

# %%
import keras
import numpy as np
import torch

from xdl import backends, data, models, twins
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# shown (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("resnet")
shapes = data.load("shapes", seed=0, validation_split=0.1).subset(train=lesson_size(5_400, quick=1_000))


def nchw(images):
    """Channels-last (xdl's data, Keras's layout) to channels-first (PyTorch's)."""
    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())


# %% [markdown]
# ## Normalising inputs
# Inputs on very different scales make one direction of the loss surface steep and another flat.
# Normalising each input feature (here each colour channel) with the training set's mean $\mu$ and
# standard deviation $\sigma$, $x' = (x - \mu) / \sigma$, gives every feature mean 0 and variance 1.
# The statistics come from the training set only, and the same $\mu$ and $\sigma$ are applied to
# validation and test images. Keras has a layer for it, `Normalization`, whose `adapt()` reads the
# statistics from data; in PyTorch they are two tensor reductions (often written into the data
# pipeline, as `torchvision.transforms.Normalize(mean, std)`). One difference to watch: PyTorch's
# `std()` divides by $n - 1$ by default, `adapt()` by $n$: `correction=0` makes them equal. Both
# are checked against NumPy's, computed in float64, on the training images. `adapt()` reads
# the data in batches and combines their float32 statistics, so its variance is off in the fourth
# digit: close enough for a network's inputs, not bit for bit.

# %%
images = shapes.x_train[:1_000]  # (images, 32, 32, 3), pixels in [0, 1]
mu = images.mean(axis=(0, 1, 2), dtype=np.float64)  # per channel, over images and positions
sigma = images.std(axis=(0, 1, 2), dtype=np.float64)
by_hand = (images - mu) / sigma
print("per-channel mean", mu.round(4), "standard deviation", sigma.round(4))

# %% keras: Normalization and adapt() tags=["concept:normalisation"]
normalise = keras.layers.Normalization(axis=-1)  # one mean and variance per channel (the last axis)
normalise.adapt(images)
keras_normalised = np.asarray(normalise(images))
print("adapt()'s mean", np.asarray(normalise.mean).ravel().round(4), "variance", np.asarray(normalise.variance).ravel().round(4))
print("normalised: mean", keras_normalised.mean(axis=(0, 1, 2)).round(4), "std", keras_normalised.std(axis=(0, 1, 2)).round(4))
keras_gap = np.abs(keras_normalised - by_hand).max()
print(f"largest difference to (x - mean) / std by hand: {keras_gap:.1e}")
assert keras_gap < 2e-3, "Keras's Normalization is not (x - mean) / std"  # adapt()'s float32 statistics

# %% torch: mean() and std(correction=0) tags=["concept:normalisation"]
x_images = nchw(images)  # channels first: the channel is axis 1
mean = x_images.mean(dim=(0, 2, 3), keepdim=True)
std = x_images.std(dim=(0, 2, 3), correction=0, keepdim=True)  # divide by n, as adapt() does
torch_normalised = ((x_images - mean) / std).numpy().transpose(0, 2, 3, 1)  # back to channels last
print("mean", mean.ravel().numpy().round(4), "std", std.ravel().numpy().round(4))
torch_gap = np.abs(torch_normalised - by_hand).max()
print(f"largest difference to (x - mean) / std by hand: {torch_gap:.1e}; to Keras's: "
      f"{np.abs(torch_normalised - keras_normalised).max():.1e}")
assert torch_gap < 1e-4, "PyTorch's normalisation is not (x - mean) / std"
assert np.abs(torch_normalised - keras_normalised).max() < 2e-3, "the two frameworks normalise differently"

# %% [markdown]
# ## What BatchNorm does
# BatchNorm applies the same idea inside the network, per channel, with the statistics of each
# training batch, and learns a scale and a shift after it. At inference it uses running averages
# of those statistics instead: a batch of one image has no variance to divide by. The twins
# below train on the raw [0, 1] pixels: their first BatchNorm, right after the first convolution,
# does the normalising.

# %%
rng = np.random.default_rng(0)
batch = rng.normal(5.0, 3.0, (64, 4)).astype(np.float32)
bn = keras.layers.BatchNormalization()
out_train = np.asarray(bn(batch, training=True))
out_infer = np.asarray(bn(batch, training=False))
print("training mode: mean", out_train.mean(0).round(3), "std", out_train.std(0).round(3))
print("inference mode (moving averages after one update, momentum 0.99):", out_infer.mean(0).round(2))

# %% keras: a residual block
from xdl.models.resnet import keras as resnet_keras

show_code(resnet_keras.residual_block)

# %% torch: the same block
from xdl.models.resnet import torch as resnet_torch

show_code(resnet_torch.Block)

# %% [markdown]
# ## 'same' padding at stride 2 is not symmetric
# For a 3x3 kernel at stride 2 on an even size, TensorFlow pads no pixel before and one after;
# PyTorch's `padding=1` pads one on each side. Both give a 16x16 output, from windows shifted by
# one pixel. The ported twin with the naive padding computes something else:

# %%
kfw, tfw = backends.load("keras"), backends.load("torch")
kfw.seed_everything(0)
knet, tnet = models.build(spec, "keras"), models.build(spec, "torch")
twins.port("resnet", "keras", knet, tnet)
x = spec.sample(np.random.default_rng(1), 8)
print("explicit (0, 1) padding, max difference to Keras:", np.abs(tfw.predict(tnet, spec, x) - kfw.predict(knet, spec, x)).max())
block = tnet.block2.a
saved = block.pad
block.pad, block.conv.padding = torch.nn.Identity(), (1, 1)
print("padding=1,          max difference to Keras:", np.abs(tfw.predict(tnet, spec, x) - kfw.predict(knet, spec, x)).max())
block.pad, block.conv.padding = saved, (0, 0)

# %% [markdown]
# ## Gradients through a residual stack
# The same 20-layer stack of small dense layers with and without identity shortcuts, at
# initialisation: how much gradient reaches the first layer?

# %%
torch.manual_seed(0)


def first_layer_gradient(residual: bool) -> float:
    layers = [torch.nn.Linear(32, 32) for _ in range(20)]
    h = torch.randn(64, 32)
    for layer in layers:
        h = h + torch.tanh(layer(h)) * 0.5 if residual else torch.tanh(layer(h))
    h.sum().backward()
    return float(layers[0].weight.grad.norm())


plain, residual = first_layer_gradient(False), first_layer_gradient(True)
glue("resnet_grad_plain", plain)
glue("resnet_grad_residual", residual)
print(f"first-layer gradient norm: plain {plain:.2e}, residual {residual:.2e}")

# %% [markdown]
# Without shortcuts the first layer's gradient norm is {glue:text}`resnet_grad_plain:.2e`; with
# them, {glue:text}`resnet_grad_residual:.2e`. Each plain layer multiplies the gradient by its
# Jacobian, $\partial h_{k+1} / \partial h_k = \mathrm{diag}(\tanh') W_k$, and twenty such products
# shrink it; a residual layer's Jacobian is $I + \tfrac{1}{2} \mathrm{diag}(\tanh') W_k$, whose
# identity term passes the gradient through unchanged.

# %% [markdown]
# ## Training both twins
# Six epochs on the 5,400 training images (the committed model trains 12).

# %%
EPOCHS = lesson_size(6)
x_val, y_val = shapes.x_val, shapes.y_val

# %% keras: compile() and fit(); BatchNorm switches mode by itself
keras.utils.set_random_seed(0)
keras_model = resnet_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fit = keras_model.fit(shapes.x_train, shapes.y_train, batch_size=128, epochs=EPOCHS, verbose=0,
                      validation_data=(x_val, y_val))
history = {"keras": fit.history}
_, keras_accuracy = keras_model.evaluate(shapes.x_test, shapes.y_test, verbose=0)

# %% torch: the loop; train() and eval() switch BatchNorm between batch and running statistics
torch.manual_seed(0)
torch_model = resnet_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
x, y = nchw(shapes.x_train), torch.from_numpy(shapes.y_train)
history["torch"] = {"loss": [], "val_loss": []}
for epoch in range(EPOCHS):
    torch_model.train()  # BatchNorm normalises with the batch's statistics and updates its running ones
    total = 0.0
    for idx in torch.randperm(len(x)).split(128):
        loss = loss_fn(torch_model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    torch_model.eval()  # BatchNorm uses the running statistics
    with torch.no_grad():
        history["torch"]["val_loss"].append(loss_fn(torch_model(nchw(x_val)), torch.from_numpy(y_val)).item())
    history["torch"]["loss"].append(total / len(x))
with torch.no_grad():
    torch_accuracy = (torch_model(nchw(shapes.x_test)).argmax(1).numpy() == shapes.y_test).mean()

# %%
print(f"test accuracy after {EPOCHS} epochs: keras {keras_accuracy:.3f}, torch {torch_accuracy:.3f}")
full = committed("resnet")  # xdl.teach.helpers: the committed twins' test accuracy, from their manifests
print(f"committed twins (12 epochs): keras {full['keras']:.3f}, torch {full['torch']:.3f}")
glue("resnet_keras_acc", keras_accuracy)
glue("resnet_torch_acc", torch_accuracy)
glue("resnet_committed_keras_acc", full["keras"])
glue("resnet_committed_torch_acc", full["torch"])
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in history.items():
    ax.plot(h["loss"], label=f"{name} training loss")
    ax.plot(h["val_loss"], linestyle="--", label=f"{name} validation loss")
ax.legend()
ax.set_xlabel("epoch")
save_figure(fig, "06_resnet_training")

# %% [markdown]
# After six epochs Keras reaches {glue:text}`resnet_keras_acc:.3f` test accuracy and PyTorch
# {glue:text}`resnet_torch_acc:.3f`; the committed twins, trained for the recipe's 12 epochs,
# reach {glue:text}`resnet_committed_keras_acc:.3f` and {glue:text}`resnet_committed_torch_acc:.3f`.
# Half the epochs leave the twins short of those numbers, and each framework's own initial
# weights and shuffles put them at different points on the way.
#
# ## Exercises
# 1. In the normalisation cells, drop `correction=0` from PyTorch's `std()`: how large is the
#    difference to Keras now, and why is it small for 1,000 images of 1,024 pixels?
# 2. In `first_layer_gradient`, remove the `* 0.5` on the residual branch and raise the depth
#    from 20 to 50 layers: what happens to the two gradient norms?
# 3. Train the PyTorch twin without calling `torch_model.eval()` before validating: how do the
#    validation losses change, and why does Keras's `fit()` not have this problem?
