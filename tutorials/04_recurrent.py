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
import keras
import numpy as np
import tensorflow as tf
import torch

from xdl import backends, data, models
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a function's source
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import lesson_size, pyplot, save_figure, source

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
# ## Exploding gradients, and clipping them
# Make the step-to-step factor larger than 1 and the same product explodes. A plain RNN with
# ReLU and a recurrent matrix twice an orthogonal one: the gradient reaching an input 25 steps
# back is about 200 times the one at the last step, and the weights' gradient has a norm in the
# hundreds of thousands. One such gradient in an update throws the weights far off. **Gradient clipping** rescales the gradient when its norm is too large.
# Both frameworks do it, with one trap: Keras's `clipnorm` clips each weight's gradient on its
# own, `global_clipnorm` clips all of them together, which is what PyTorch's
# `clip_grad_norm_` does. The same weights in both (PyTorch's second bias frozen at zero, as
# xdl's twins do), the same 30-step sequences:

# %%
rng = np.random.default_rng(0)
units, steps = 16, 30
kernel = rng.normal(0, 0.5, (4, units)).astype(np.float32)
recurrent = (2.0 * np.linalg.qr(rng.normal(size=(units, units)))[0]).astype(np.float32)
bias = np.zeros(units, np.float32)
sequences = rng.normal(size=(8, steps, 4)).astype(np.float32)

# %% keras: the gradient, and the optimizer clipping it
rnn_k = keras.layers.SimpleRNN(units, activation="relu")
rnn_k.build((None, steps, 4))
rnn_k.set_weights([kernel, recurrent, bias])
with tf.GradientTape() as tape:
    loss_k = tf.reduce_sum(rnn_k(sequences))
grads_k = tape.gradient(loss_k, rnn_k.trainable_variables)
print(f"global gradient norm {np.sqrt(sum(float(tf.reduce_sum(g**2)) for g in grads_k)):.4g}")
for option in ("clipnorm", "global_clipnorm"):
    rnn_k.set_weights([kernel, recurrent, bias])
    before = [w.copy() for w in rnn_k.get_weights()]
    keras.optimizers.SGD(learning_rate=1.0, **{option: 1.0}).apply_gradients(zip(grads_k, rnn_k.trainable_variables))
    step = np.sqrt(sum(((b - a) ** 2).sum() for b, a in zip(before, rnn_k.get_weights())))
    print(f"SGD(learning_rate=1, {option}=1): the step's norm is {step:.4f}")

# %% torch: the gradient, and clip_grad_norm_
rnn_t = torch.nn.RNN(4, units, nonlinearity="relu", batch_first=True)
with torch.no_grad():
    rnn_t.weight_ih_l0.copy_(torch.from_numpy(kernel.T))  # PyTorch stores the transposes
    rnn_t.weight_hh_l0.copy_(torch.from_numpy(recurrent.T))
    rnn_t.bias_ih_l0.zero_()
    rnn_t.bias_hh_l0.zero_()
rnn_t.bias_hh_l0.requires_grad_(False)  # one bias, as in Keras
inputs = torch.from_numpy(sequences).requires_grad_(True)
outputs, _ = rnn_t(inputs)
outputs[:, -1].sum().backward()
norm = torch.nn.utils.clip_grad_norm_([p for p in rnn_t.parameters() if p.requires_grad], max_norm=1.0)
print(f"global gradient norm {norm.item():.4g} (returned by clip_grad_norm_, before clipping)")
clipped = torch.sqrt(sum((p.grad**2).sum() for p in rnn_t.parameters() if p.requires_grad))
print(f"after clip_grad_norm_(max_norm=1): {clipped.item():.4f}")

# %%
growth = inputs.grad.norm(dim=2).mean(0).numpy()
for back in (5, 15, 25):
    print(f"gradient {back} steps back, relative to the last step: {growth[-1 - back] / growth[-1]:.3g}")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(growth / growth[-1], label="ReLU RNN, recurrent matrix x 2")
ax.set_xlabel("input step")
ax.set_ylabel("|d loss / d input|, relative")
ax.legend()
save_figure(fig, "04_exploding_gradients")

# %% [markdown]
# ## The LSTM's weights in each framework
# Both store the four gates in the same order (input, forget, candidate, output). Keras keeps a
# kernel, a recurrent kernel and one bias; PyTorch keeps the transposes and two biases whose sum
# is Keras's bias. xdl's PyTorch twin freezes the second bias at zero so both train the same
# parameters.

# %% keras: LSTM weights
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
from xdl import twins

lstm_spec = registry.get("lstm")
kfw, tfw = backends.load("keras"), backends.load("torch")
kfw.seed_everything(0)
k_lstm, t_lstm = models.build(lstm_spec, "keras"), models.build(lstm_spec, "torch")
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
EPOCHS = lesson_size(20)  # the committed model trains 40
print(f"{len(digits1d.x_train)} sequences of shape {digits1d.x_train.shape[1:]}")

# %% keras: compile() and fit(), validation each epoch
keras.utils.set_random_seed(0)
keras_model = gru_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3, epsilon=1e-7),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fit = keras_model.fit(digits1d.x_train, digits1d.y_train, batch_size=128, epochs=EPOCHS, verbose=0,
                      validation_data=(digits1d.x_val, digits1d.y_val))
curves = {"keras": fit.history["val_accuracy"]}
_, keras_accuracy = keras_model.evaluate(digits1d.x_test, digits1d.y_test, verbose=0)

# %% torch: the loop, validation each epoch
torch.manual_seed(0)
torch_model = gru_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=3e-3, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()
x, y = torch.from_numpy(digits1d.x_train), torch.from_numpy(digits1d.y_train)  # (batch, time, 1): batch_first
curves["torch"] = []
for epoch in range(EPOCHS):
    torch_model.train()
    for idx in torch.randperm(len(x)).split(128):
        loss = loss_fn(torch_model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    torch_model.eval()
    with torch.no_grad():
        predicted = torch_model(torch.from_numpy(digits1d.x_val)).argmax(1).numpy()
    curves["torch"].append((predicted == digits1d.y_val).mean())
with torch.no_grad():
    torch_accuracy = (torch_model(torch.from_numpy(digits1d.x_test)).argmax(1).numpy() == digits1d.y_test).mean()

# %%
print(f"test accuracy after {EPOCHS} epochs: keras {keras_accuracy:.3f}, torch {torch_accuracy:.3f}")
nets = {"keras": keras_model, "torch": torch_model}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, accuracies in curves.items():
    ax.plot(accuracies, label=f"{name} validation accuracy")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "04_gru_training")

# %% [markdown]
# ## Any length: the exports keep the sequence dimension dynamic
# A recurrent layer does not care how long its input is, and the ONNX exports keep it so: the
# input is `[batch, seq, 1]`. tf2onnx writes Keras's GRU as a `Loop` over the time steps; xdl
# checks, node by node, that the loop body is the GRU equations and replaces it with ONNX's one
# `GRU` op, which runs about 15 times faster (docs/routes.md in the repository). The same
# exported model runs sequences of 20 and 60 steps, and agrees with Keras on both.

# %%
from xdl import exporting, verify

raw = exporting.to_onnx(spec, "keras", nets["keras"], optimised=False)
proto = exporting.to_onnx(spec, "keras", nets["keras"])
print("exported input:", graph.declared(proto.graph.input[0]))
print("ops tf2onnx wrote:", graph.op_counts(raw))  # Keras 3's GRU is a while loop: an ONNX Loop
print("ops xdl ships:", graph.op_counts(proto))  # the Loop proven to be a GRU and rewritten as one
session = verify.session(proto.SerializeToString(), "cpu")
for length in (20, 60):
    xs = spec.sample(np.random.default_rng(length), 4, length)
    diff = np.abs(session.run(None, {"x": xs})[0] - kfw.predict(nets["keras"], spec, xs)).max()
    print(f"length {length}: ONNX Runtime vs Keras max abs difference {diff:.1e}")
