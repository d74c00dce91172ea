# %% [markdown]
# # 4. Recurrent networks: LSTM gates, vanishing gradients, GRU
#
# A recurrent network reads a sequence one step at a time and carries a state from step to step.
# A plain RNN multiplies the state by the same matrix at every step, so the gradient that
# reaches early steps is multiplied many times too: it shrinks towards zero (**vanishing**) or
# blows up (**exploding**), and the network cannot learn long-range dependencies. An **LSTM**
# adds a cell state updated by addition, guarded by four gates: the **forget** gate decides
# what to keep, the **input** gate what to write, the **candidate** is what could be written,
# the **output** gate what to show. A **GRU** does the same with three gate blocks.

# %%
import numpy as np
import torch

from xdl import backends, data
from xdl.spec import registry, tasks
from xdl.teach.helpers import pyplot, save_figure, source, train

plt = pyplot()

# %% [markdown]
# ## Vanishing gradients, measured
# The gradient of the last output with respect to each earlier input, for a plain tanh RNN and an
# LSTM of the same size (PyTorch, random weights, averaged over 20 sequences of 60 steps). Both
# fade; the plain RNN's by a factor of ~1e-6 within 20 steps, the LSTM's cell path only as fast
# as its forget gates close (here 3e-2 over the same 20). Weights that make the RNN's factor
# larger than 1 make it explode instead.

# %%
torch.manual_seed(0)
steps = 60
x = torch.randn(20, steps, 8, requires_grad=True)
norms = {}
for name, layer in (("plain RNN (tanh)", torch.nn.RNN(8, 32, batch_first=True)),
                    ("LSTM", torch.nn.LSTM(8, 32, batch_first=True))):
    if name == "LSTM":  # Keras's initial forget-gate bias of 1: remember by default
        with torch.no_grad():
            layer.bias_ih_l0[32:64] = 1.0
    x.grad = None
    out, _ = layer(x)
    out[:, -1].sum().backward()
    norms[name] = x.grad.norm(dim=2).mean(0).numpy()
    back = {k: norms[name][-1 - k] / norms[name][-1] for k in (10, 20, 40)}
    print(f"{name}: gradient 10, 20, 40 steps back, relative to the last step: "
          + ", ".join(f"{v:.1e}" for v in back.values()))
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, n in norms.items():
    ax.semilogy(n / n[-1], label=name)
ax.set_xlabel("input step")
ax.set_ylabel("|d last output / d input|, relative")
ax.legend()
save_figure(fig, "04_vanishing_gradients")

# %% [markdown]
# ## The LSTM's weights in each framework
# Both store the four gates in the same order (input, forget, candidate, output). Keras keeps a
# kernel, a recurrent kernel and one bias; PyTorch keeps the transposes and two biases whose sum
# is Keras's bias. xdl's PyTorch twin freezes the second bias at zero so both train the same
# parameters.

# %% keras: LSTM weights
import keras

layer = keras.layers.LSTM(32)
layer.build((None, 10, 32))
print([(w.name, tuple(w.shape)) for w in layer.weights])

# %% torch: LSTM weights
print([(n, tuple(p.shape)) for n, p in torch.nn.LSTM(32, 32, batch_first=True).named_parameters()])

# %% [markdown]
# The zoo's `lstm` sentiment classifier uses exactly these layers. Its Keras weights, moved into the
# PyTorch twin through `xdl/models/lstm/port.py` (kernels transposed, the one bias into `bias_ih`),
# give the same probabilities for a short and a long review:

# %%
from xdl.exporting import graph
from xdl.port import twins

lstm_spec = registry.get("lstm")
kfw, tfw = backends.load("keras"), backends.load("torch")
kfw.seed_everything(0)
k_lstm, t_lstm = kfw.build(lstm_spec), tfw.build(lstm_spec)
twins.port("lstm", "keras", k_lstm, t_lstm)
for length in (12, 128):
    tokens = lstm_spec.sample(np.random.default_rng(length), 4, length)
    gap = np.abs(kfw.predict(k_lstm, lstm_spec, tokens) - tfw.predict(t_lstm, lstm_spec, tokens)).max()
    print(f"{length:3d} tokens: Keras vs PyTorch max abs difference {gap:.1e}")

# %% [markdown]
# ## A GRU on MNIST-1D
# MNIST-1D turns ten digit-like templates into sequences of 40 numbers, shifted, scaled and
# noised. The GRU reads them one value at a time. Keras stores the GRU's gate blocks as update,
# reset, candidate (z, r, h); PyTorch as reset, update, new (r, z, n): the port swaps them.

# %% keras: the model
from xdl.models.gru import keras as gru_keras

print(source(gru_keras.build))

# %% torch: the model
from xdl.models.gru import torch as gru_torch

print(source(gru_torch.GRUClassifier))

# %%
spec = registry.get("gru")
digits1d = data.load("mnist1d", seed=0, validation_split=0.1)
curves, nets = {}, {}
for name in ("keras", "torch"):
    nets[name], curves[name] = train(name, spec, digits1d, epochs=20)
    probs = backends.load(name).predict(nets[name], spec, digits1d.x_test)
    acc = tasks.score("classification", probs, digits1d.x_test, digits1d.y_test)
    print(f"{name}: test accuracy {acc:.3f} after 20 epochs (the committed model trains 40)")
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, h in curves.items():
    ax.plot(h["val_accuracy"], label=f"{name} validation accuracy")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "04_gru_training")

# %% [markdown]
# ## Any length: the exports keep the sequence dimension dynamic
# A recurrent layer does not care how long its input is, and the ONNX exports keep it so: the
# input is `[batch, seq, 1]`. The same exported model runs sequences of 20 and 60 steps, and
# agrees with Keras on both.

# %%
from xdl import exporting, verify

proto = exporting.to_onnx(spec, "keras", nets["keras"])
print("exported input:", graph.declared(proto.graph.input[0]))
print("ops tf2onnx produced:", graph.op_counts(proto))
session = verify.session(proto.SerializeToString(), "cpu")
for length in (20, 60):
    xs = spec.sample(np.random.default_rng(length), 4, length)
    diff = np.abs(session.run(None, {"x": xs})[0] - kfw.predict(nets["keras"], spec, xs)).max()
    print(f"length {length}: ONNX Runtime vs Keras max abs difference {diff:.1e}")
