# %% [markdown]
# # 11. Every place Keras and PyTorch differ
#
# **Goals**
# - read the generated table of every default that differs between Keras and PyTorch;
# - translate BatchNorm momentum and see a slow running average;
# - check a port of your own with `xdl.twin`, and see why RMSprop cannot match exactly.
#
# **Prerequisites**: lessons 1 (optimizers) and 6 (batch normalisation).
#
# The twins compute the same function because each difference below is handled somewhere in
# xdl. The table is not typed in: every value is read from the Keras and PyTorch installed right
# now, from a default in a signature or by building a layer and looking at it
# (`xdl/backends/differences.py`, also `xdl differences`). The test suite checks every row, and checks that
# the twins handle it, so a library upgrade that moves a default cannot go unnoticed.

# %%
import numpy as np

from xdl.backends import differences
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure)
from xdl.teach.helpers import pyplot, save_figure

plt = pyplot()
print(differences.markdown())

# %% [markdown]
# ## One difference up close: BatchNorm momentum
# Keras's momentum weighs the old average, PyTorch's the new batch: Keras 0.99 is PyTorch 0.01,
# and PyTorch's default 0.1 is Keras 0.9. With momentum 0.99 the moving statistics need hundreds
# of steps to forget their starting point (mean 0, variance 1); a short training run ends before
# they settle, and the model behaves differently at inference than in training. That is why
# xdl's resnet and transfer use 0.9 (PyTorch 0.1).

# %% keras: a BatchNormalization that settles quickly
import keras

keras_bn = keras.layers.BatchNormalization(momentum=0.9)  # new = 0.9 * old + 0.1 * batch
print("Keras", keras_bn.momentum, "weighs the old average")

# %% torch: the same layer
import torch

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

torch_bn = torch.nn.BatchNorm1d(4, eps=1e-3, momentum=0.1)  # new = 0.9 * old + 0.1 * batch
print("PyTorch", torch_bn.momentum, "weighs the new batch; eps set to Keras's", torch_bn.eps)

# %%
true_mean = 3.0
fig, ax = plt.subplots(figsize=(6, 3.5))
for keras_momentum in (0.99, 0.9):
    bn = torch.nn.BatchNorm1d(1, momentum=1 - keras_momentum)  # the translation
    track = []
    for _ in range(300):
        bn(torch.randn(64, 1) + true_mean)
        track.append(float(bn.running_mean[0]))
    ax.plot(track, label=f"Keras momentum {keras_momentum} = PyTorch {1 - keras_momentum:.2f}")
    print(f"Keras momentum {keras_momentum}: running mean after 50 steps {track[49]:.2f}, after 300 {track[-1]:.2f} "
          f"(true {true_mean})")
ax.axhline(true_mean, color="grey", linestyle=":")
ax.set_xlabel("training step")
ax.set_ylabel("running mean")
ax.legend()
save_figure(fig, "11_batchnorm_momentum")

# %% [markdown]
# ## Checking your own port: `xdl.twin`
# Rewrite a Keras model in PyTorch and these differences are yours to get right. `xdl.twin`
# copies the Keras weights into the PyTorch model, runs both on the same inputs and compares them
# layer by layer: either they are one network, or it names the first layer where they part and
# why (docs/twin.md). Below, a rewrite that keeps PyTorch's BatchNorm defaults: its `why:` line
# names the epsilon, which changes every output; its `note:` line the momentum, which only
# training would show.

# %% keras: a small classifier with BatchNorm
keras.utils.set_random_seed(0)
keras_net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="hidden"),
                              keras.layers.BatchNormalization(name="bn"), keras.layers.Dense(3, name="out")],
                             name="keras_net")


# %% torch: the rewrite, BatchNorm1d left at its defaults (eps 1e-5, momentum 0.1)
class TorchNet(torch.nn.Module):
    def __init__(self, eps=1e-5, momentum=0.1):
        super().__init__()
        self.hidden = torch.nn.Linear(8, 16)
        self.bn = torch.nn.BatchNorm1d(16, eps=eps, momentum=momentum)
        self.out = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.bn(self.hidden(x)))


# %%
import xdl

x = np.random.default_rng(0).random((32, 8), dtype=np.float32)
report = xdl.twin(keras_net, TorchNet(), x)
print(report.render())
fixed = xdl.twin(keras_net, TorchNet(eps=1e-3, momentum=0.01), x)  # Keras's epsilon and momentum
print("\nwith eps=1e-3, momentum=0.01:", fixed.verdict())

# %% [markdown]
# ## And the optimizer that cannot be matched exactly
# Both keep $v$, a moving average of the squared gradient $g^2$, and step by $\eta\,g$ divided by
# its root, but not the same root: Keras's RMSprop divides by $\sqrt{v + \epsilon}$, PyTorch's by
# $\sqrt{v} + \epsilon$. With the same $\epsilon$ (1e-7) the updates differ where $v$ is tiny, so
# two twins started from the same weights drift apart slowly (`xdl parity steps mlp --steps 20 --optimizer spec` measures it).

# %%
v = np.logspace(-16, -4, 7)
keras_step = 1 / np.sqrt(v + 1e-7)
torch_step = 1 / (np.sqrt(v) + 1e-7)
for vi, k, t in zip(v, keras_step, torch_step):
    print(f"v = {vi:.0e}: Keras scale {k:10.1f}   PyTorch scale {t:12.1f}")

# %% [markdown]
# ## Exercises
# 1. Add a `Dropout(0.5)` to both nets of the `xdl.twin` example: what does the report say, and why do
#    the outputs still agree at inference?
# 2. Pick a row of the table (for example the LeakyReLU slope or the embedding initialiser) and write a
#    Keras layer and a PyTorch one that differ only in it: how large is the difference in their outputs?
# 3. Plot Keras's and PyTorch's RMSprop scale for eps 1e-7 and 1e-3: where do they part?
