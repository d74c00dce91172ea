# %% [markdown]
# # 6. Normalisation and residual connections: a small ResNet
#
# Deeper networks should be at least as good as shallower ones, but stacked plain layers train
# badly: gradients fade through many layers. A **residual** block computes relu(F(x) + x): the
# layers learn only a correction F to their input, and the identity path carries signal and
# gradient straight through. When the shape changes (more channels, stride 2), a 1x1
# convolution projects the shortcut. **Batch normalisation** rescales each channel to mean 0 and
# variance 1 over the batch while training, and with running averages at inference.

# %%
import keras
import numpy as np
import torch

from xdl import backends, data, models, twins
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a function's source
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import lesson_size, pyplot, save_figure, source

plt = pyplot()
spec = registry.get("resnet")

# %% [markdown]
# ## Normalising inputs, and what BatchNorm does
# Inputs on very different scales make one direction of the loss surface steep and another flat.
# BatchNorm applies the same idea inside the network, per channel.

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

print(source(resnet_keras.residual_block))

# %% torch: the same block
from xdl.models.resnet import torch as resnet_torch

print(source(resnet_torch.Block))

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


print(f"first-layer gradient norm: plain {first_layer_gradient(False):.2e}, residual {first_layer_gradient(True):.2e}")

# %% [markdown]
# ## Training both twins
# Six epochs on the 5,400 training images (the committed model trains 12).

# %%
shapes = data.load("shapes", seed=0, validation_split=0.1).subset(train=lesson_size(5_400, quick=1_000))
EPOCHS = lesson_size(6)
x_val, y_val = shapes.x_val, shapes.y_val


def nchw(images):
    """Channels-last (xdl's data, Keras's layout) to channels-first (PyTorch's)."""
    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())


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
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in history.items():
    ax.plot(h["loss"], label=f"{name} training loss")
    ax.plot(h["val_loss"], linestyle="--", label=f"{name} validation loss")
ax.legend()
ax.set_xlabel("epoch")
save_figure(fig, "06_resnet_training")
