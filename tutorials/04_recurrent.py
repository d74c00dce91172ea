# %% [markdown]
# # 4. Recurrent networks: LSTM gates, vanishing gradients, GRU
#
# **Goals**
# - measure vanishing and exploding gradients in both frameworks, and clip them alike;
# - compute one LSTM step by hand from each framework's weights and match the layer;
# - train a GRU in both frameworks and export it for any sequence length.
#
# **Prerequisites**: lessons 1 (backpropagation, optimizers) and 3 (tokens and embeddings);
# matrix products and the chain rule.
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
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's
# code shown (show_code), a number recorded for the prose (glue), the committed twins' test metric
# (committed); lesson_size(n) is n, only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()

# %% [markdown]
# ## Vanishing gradients, measured
# A plain tanh RNN computes $h_t = \tanh(x_t W + h_{t-1} U + b)$. By the chain rule the gradient
# of the last state with respect to an earlier input $x_t$ is a product of one factor per step
# between them:
#
# $$\frac{\partial h_T}{\partial x_t} = J_T J_{T-1} \cdots J_{t+1}\,
#   \operatorname{diag}(1 - h_t^2)\,W^\top, \qquad J_k = \operatorname{diag}(1 - h_k^2)\,U^\top$$
#
# Each $J_k$ shrinks the gradient when its tanh saturates or $U$ is small, so the product fades
# exponentially with the distance $T - t$. Each cell below computes that product by hand
# (backpropagation through time, written out) and checks it against the framework's autograd, then
# measures the same gradient for an LSTM of the same size (random weights, 20 sequences of 60
# steps, the gradient's norm averaged over the sequences, relative to the last step's).

# %%
steps = 60
sequences_60 = np.random.default_rng(1).normal(size=(20, steps, 8)).astype(np.float32)


def decay(grad):
    """|d output / d x_t| averaged over the sequences, relative to the last step's."""
    norm = np.linalg.norm(grad, axis=2).mean(0)
    return norm / norm[-1]


# %% keras: the gradient through time, by hand and by GradientTape tags=["concept:vanishing-gradients"]
keras.utils.set_random_seed(0)
rnn = keras.layers.SimpleRNN(32, return_sequences=True)  # activation="tanh"
lstm = keras.layers.LSTM(32)  # unit_forget_bias=True: the forget gate's bias starts at 1
inputs_k = tf.constant(sequences_60)
with tf.GradientTape(persistent=True) as tape:
    tape.watch(inputs_k)
    states = rnn(inputs_k)  # every step's state h_t
    rnn_out = tf.reduce_sum(states[:, -1])
    lstm_out = tf.reduce_sum(lstm(inputs_k))
autograd = tape.gradient(rnn_out, inputs_k).numpy()
W, U, _ = rnn.get_weights()  # kernel (8, 32), recurrent_kernel (32, 32)
h = states.numpy()
v, by_hand = np.ones((20, 32), np.float32), np.zeros_like(sequences_60)  # v: d output / d h_t
for t in range(steps - 1, -1, -1):
    through_tanh = v * (1 - h[:, t] ** 2)
    by_hand[:, t] = through_tanh @ W.T  # to the input x_t
    v = through_tanh @ U.T  # to the previous state h_{t-1}: one more factor J_t
gap = np.abs(by_hand - autograd).max() / np.abs(autograd).max()
print(f"plain RNN, by hand vs GradientTape: max difference {gap:.1e} of the largest gradient")
assert gap < 1e-4, "backpropagation through time by hand disagrees with GradientTape"
decays = {"keras RNN": decay(autograd), "keras LSTM": decay(tape.gradient(lstm_out, inputs_k).numpy())}
for name, d in decays.items():
    print(f"{name}: gradient 10, 20, 40 steps back, relative to the last step: "
          + ", ".join(f"{d[-1 - k]:.1e}" for k in (10, 20, 40)))
glue("vanish_keras_rnn_20", decays["keras RNN"][-21])
glue("vanish_keras_lstm_20", decays["keras LSTM"][-21])

# %% torch: the gradient through time, by hand and by autograd tags=["concept:vanishing-gradients"]
torch.manual_seed(0)
rnn = torch.nn.RNN(8, 32, batch_first=True)  # nonlinearity="tanh"
lstm = torch.nn.LSTM(8, 32, batch_first=True)
with torch.no_grad():
    lstm.bias_ih_l0[32:64] = 1.0  # Keras's initial forget-gate bias of 1: remember by default
inputs_t = torch.from_numpy(sequences_60).requires_grad_(True)
states, _ = rnn(inputs_t)
states[:, -1].sum().backward()
autograd = inputs_t.grad.numpy().copy()
W_ih, W_hh = rnn.weight_ih_l0.detach().numpy(), rnn.weight_hh_l0.detach().numpy()  # (32, 8), (32, 32)
h = states.detach().numpy()
v, by_hand = np.ones((20, 32), np.float32), np.zeros_like(sequences_60)
for t in range(steps - 1, -1, -1):
    through_tanh = v * (1 - h[:, t] ** 2)
    by_hand[:, t] = through_tanh @ W_ih  # PyTorch stores W and U transposed
    v = through_tanh @ W_hh
gap = np.abs(by_hand - autograd).max() / np.abs(autograd).max()
print(f"plain RNN, by hand vs autograd: max difference {gap:.1e} of the largest gradient")
assert gap < 1e-4, "backpropagation through time by hand disagrees with autograd"
inputs_t.grad = None
out, _ = lstm(inputs_t)
out[:, -1].sum().backward()
decays.update({"torch RNN": decay(autograd), "torch LSTM": decay(inputs_t.grad.numpy())})
for name in ("torch RNN", "torch LSTM"):
    print(f"{name}: gradient 10, 20, 40 steps back, relative to the last step: "
          + ", ".join(f"{decays[name][-1 - k]:.1e}" for k in (10, 20, 40)))
glue("vanish_torch_rnn_20", decays["torch RNN"][-21])
glue("vanish_torch_lstm_20", decays["torch LSTM"][-21])

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, d in decays.items():
    ax.semilogy(d, label=name, linestyle="-" if name.startswith("keras") else "--")
ax.set_xlabel("input step")
ax.set_ylabel("|d last output / d input|, relative")
ax.legend()
save_figure(fig, "04_vanishing_gradients")

# %% [markdown]
# All four fade. Twenty steps back, the plain RNN's gradient is {glue:text}`vanish_keras_rnn_20:.1e`
# of the last step's in Keras and {glue:text}`vanish_torch_rnn_20:.1e` in PyTorch; the LSTM's
# cell path keeps {glue:text}`vanish_keras_lstm_20:.1e` and {glue:text}`vanish_torch_lstm_20:.1e`,
# fading only as fast as its forget gates close. The frameworks differ because they start from
# different weights: Keras draws the recurrent matrix orthogonal (every singular value 1), PyTorch
# uniform in $\pm 1/\sqrt{32}$, which shrinks the state at every step. Weights that make the
# factors $J_k$ larger than 1 make the gradient explode instead.

# %% [markdown]
# ## Exploding gradients, and clipping them
# Make the step-to-step factor larger than 1 and the same product explodes. A plain RNN with
# ReLU and a recurrent matrix twice an orthogonal one: the gradient reaching an input 25 steps
# back is {glue:text}`explode_growth_25:.0f` times the one at the last step, and the weights' gradient
# has a norm of {glue:text}`explode_grad_norm:,.0f`. One such gradient in an update throws the weights
# far off. **Gradient clipping** rescales the gradient $g$ when its norm is too large:
# $g \leftarrow g \cdot \min(1, c / \lVert g \rVert)$ for a threshold $c$.
# Both frameworks do it, with one trap: Keras's `clipnorm` clips each weight's gradient on its
# own, `global_clipnorm` clips all of them together, which is what PyTorch's
# `clip_grad_norm_` does. The same weights in both (PyTorch's second bias frozen at zero, as
# xdl's twins do), the same 30-step sequences; each cell checks the clipped step against the
# rule computed by hand:

# %%
rng = np.random.default_rng(0)
units, steps = 16, 30
kernel = rng.normal(0, 0.5, (4, units)).astype(np.float32)
recurrent = (2.0 * np.linalg.qr(rng.normal(size=(units, units)))[0]).astype(np.float32)
bias = np.zeros(units, np.float32)
sequences = rng.normal(size=(8, steps, 4)).astype(np.float32)

# %% keras: the gradient, and the optimizer clipping it tags=["concept:exploding-gradients"]
rnn_k = keras.layers.SimpleRNN(units, activation="relu")
rnn_k.build((None, steps, 4))
rnn_k.set_weights([kernel, recurrent, bias])
inputs_k = tf.constant(sequences)
with tf.GradientTape() as tape:
    tape.watch(inputs_k)
    loss_k = tf.reduce_sum(rnn_k(inputs_k))
grads_k, input_grad_k = tape.gradient(loss_k, [rnn_k.trainable_variables, inputs_k])
norms_k = [float(tf.norm(g)) for g in grads_k]  # one per weight: kernel, recurrent kernel, bias
print(f"global gradient norm {np.sqrt(sum(n**2 for n in norms_k)):.4g}")
# the step SGD(learning_rate=1) takes, by hand: each gradient clipped alone, or all together
expected = {"clipnorm": np.sqrt(sum(min(1.0, n) ** 2 for n in norms_k)),
            "global_clipnorm": min(1.0, np.sqrt(sum(n**2 for n in norms_k)))}
for option in ("clipnorm", "global_clipnorm"):
    rnn_k.set_weights([kernel, recurrent, bias])
    before = [w.copy() for w in rnn_k.get_weights()]
    keras.optimizers.SGD(learning_rate=1.0, **{option: 1.0}).apply_gradients(zip(grads_k, rnn_k.trainable_variables))
    step = np.sqrt(sum(((b - a) ** 2).sum() for b, a in zip(before, rnn_k.get_weights())))
    print(f"SGD(learning_rate=1, {option}=1): the step's norm is {step:.4f} (by hand {expected[option]:.4f})")
    assert abs(step - expected[option]) < 1e-4, f"{option} did not clip as the rule says"

# %% torch: the gradient, and clip_grad_norm_ tags=["concept:exploding-gradients"]
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
trained = [p for p in rnn_t.parameters() if p.requires_grad]
by_hand = torch.sqrt(sum((p.grad**2).sum() for p in trained)).item()  # the global norm, before clipping
norm = torch.nn.utils.clip_grad_norm_(trained, max_norm=1.0)
print(f"global gradient norm {norm.item():.4g} (returned by clip_grad_norm_, before clipping; by hand {by_hand:.4g})")
clipped = torch.sqrt(sum((p.grad**2).sum() for p in trained)).item()
print(f"after clip_grad_norm_(max_norm=1): {clipped:.4f} (by hand: min(1, norm) = {min(1.0, by_hand):.4f})")
assert abs(norm.item() - by_hand) < 1e-3 * by_hand, "clip_grad_norm_ returned another norm"
assert abs(clipped - min(1.0, by_hand)) < 1e-4, "clip_grad_norm_ did not clip as the rule says"

# %%
growth = {"keras": decay(input_grad_k.numpy()), "torch": decay(inputs.grad.numpy())}
assert np.allclose(growth["keras"], growth["torch"], rtol=1e-3), "same weights, same sequences: same gradients"
for back in (5, 15, 25):
    print(f"gradient {back} steps back, relative to the last step: keras {growth['keras'][-1 - back]:.3g}, "
          f"torch {growth['torch'][-1 - back]:.3g}")
glue("explode_growth_25", growth["torch"][-26])
glue("explode_grad_norm", norm.item())
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.semilogy(growth["torch"], label="ReLU RNN, recurrent matrix x 2 (both frameworks)")
ax.set_xlabel("input step")
ax.set_ylabel("|d loss / d input|, relative")
ax.legend()
save_figure(fig, "04_exploding_gradients")

# %% [markdown]
# ## One LSTM step, by hand
# An LSTM step computes four gate blocks from the input $x_t$ and the previous state $h_{t-1}$,
# each with its own slice of the weights, then updates the cell state $c$ and the output $h$:
#
# $$\begin{aligned}
# i &= \sigma(x_t W_i + h_{t-1} U_i + b_i) & f &= \sigma(x_t W_f + h_{t-1} U_f + b_f) \\
# g &= \tanh(x_t W_g + h_{t-1} U_g + b_g) & o &= \sigma(x_t W_o + h_{t-1} U_o + b_o) \\
# c_t &= f \odot c_{t-1} + i \odot g & h_t &= o \odot \tanh(c_t)
# \end{aligned}$$
#
# Both frameworks store the four blocks side by side in the same order: input, forget,
# candidate, output (Keras calls the candidate `c`, PyTorch `g`). Keras keeps a `kernel`
# ($W$, inputs x 4·units), a `recurrent_kernel` ($U$) and one `bias`; PyTorch keeps the
# transposes, `weight_ih` and `weight_hh`, and two biases, `bias_ih` and `bias_hh`, whose sum is
# Keras's bias. xdl's PyTorch twin freezes the second bias at zero so both train the same
# parameters. Each cell takes one step from a given state $(h_0, c_0)$, by hand from the layer's
# weights and by the layer:

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


step_rng = np.random.default_rng(2)
x1, h0, c0 = (step_rng.normal(size=(2, n)).astype(np.float32) for n in (3, 4, 4))  # 2 sequences, 4 units

# %% keras: an LSTM step by hand tags=["concept:lstm-gates"]
layer = keras.layers.LSTM(4, return_state=True)
_, h_layer, c_layer = layer(x1[:, None, :], initial_state=[h0, c0])  # a sequence of one step
W, U, b = layer.get_weights()
print("kernel", W.shape, "recurrent_kernel", U.shape, "bias", b.shape)  # gate blocks i, f, c, o
i, f, c, o = np.split(x1 @ W + h0 @ U + b, 4, axis=1)
c1 = sigmoid(f) * c0 + sigmoid(i) * np.tanh(c)
h1 = sigmoid(o) * np.tanh(c1)
gap = max(np.abs(h1 - np.asarray(h_layer)).max(), np.abs(c1 - np.asarray(c_layer)).max())
print(f"h by hand  {h1[0].round(4)}\nh by Keras {np.asarray(h_layer)[0].round(4)}")
print(f"max abs difference (h and c) {gap:.1e}")
assert gap < 1e-5, "the LSTM step by hand disagrees with Keras's layer"

# %% torch: an LSTM step by hand tags=["concept:lstm-gates"]
layer = torch.nn.LSTM(3, 4, batch_first=True)
with torch.no_grad():  # the states are (layers, batch, units)
    _, (h_layer, c_layer) = layer(torch.from_numpy(x1[:, None, :]),
                                  (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
W_ih, W_hh, b_ih, b_hh = (p.detach().numpy() for p in layer.parameters())
print("weight_ih", W_ih.shape, "weight_hh", W_hh.shape, "bias_ih", b_ih.shape, "bias_hh", b_hh.shape)  # i, f, g, o
i, f, g, o = np.split(x1 @ W_ih.T + h0 @ W_hh.T + b_ih + b_hh, 4, axis=1)
c1 = sigmoid(f) * c0 + sigmoid(i) * np.tanh(g)
h1 = sigmoid(o) * np.tanh(c1)
gap = max(np.abs(h1 - h_layer[0].numpy()).max(), np.abs(c1 - c_layer[0].numpy()).max())
print(f"h by hand  {h1[0].round(4)}\nh by torch {h_layer[0, 0].numpy().round(4)}")
print(f"max abs difference (h and c) {gap:.1e}")
assert gap < 1e-5, "the LSTM step by hand disagrees with PyTorch's layer"

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

show_code(gru_keras.build)

# %% torch: the model
from xdl.models.gru import torch as gru_torch

show_code(gru_torch.GRUClassifier)

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
full = committed("gru")  # xdl.teach.helpers: the committed twins' test accuracy, from their manifests
print(f"committed (up to 40 epochs): keras {full['keras']:.3f}, torch {full['torch']:.3f}")
glue("gru_epochs", EPOCHS)
glue("gru_keras_acc", keras_accuracy)
glue("gru_torch_acc", torch_accuracy)
glue("gru_keras_committed", full["keras"])
glue("gru_torch_committed", full["torch"])
nets = {"keras": keras_model, "torch": torch_model}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, accuracies in curves.items():
    ax.plot(accuracies, label=f"{name} validation accuracy")
ax.set_xlabel("epoch")
ax.legend()
save_figure(fig, "04_gru_training")

# %% [markdown]
# After {glue:text}`gru_epochs:d` epochs the GRUs reach {glue:text}`gru_keras_acc:.2f` (Keras) and
# {glue:text}`gru_torch_acc:.2f` (PyTorch) on the test set, and their validation curves are still
# climbing, a few points apart from epoch to epoch (each framework draws its own initial weights
# and shuffles, as lesson 2 explains): the run stops halfway to keep the lesson short. The
# committed twins run the spec's full recipe, up to 40 epochs with early stopping, and reach
# {glue:text}`gru_keras_committed:.3f` and {glue:text}`gru_torch_committed:.3f`: the difference
# is the short run's, not the model's.

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

# %% [markdown]
# ## Exercises
# 1. In the vanishing-gradient cells, give Keras's `SimpleRNN` PyTorch's initialisation
#    (`recurrent_initializer=keras.initializers.RandomUniform(-1 / 32**0.5, 1 / 32**0.5)`): does its
#    gradient 20 steps back fall to PyTorch's? Then scale the orthogonal matrix by 1.5 and watch it explode.
# 2. Extend the by-hand LSTM step to a GRU: Keras's `GRU(4, reset_after=True)` and `torch.nn.GRU`
#    store the gate blocks as z, r, h and r, z, n. Write both steps and check them against the layers.
# 3. Train the GRU with `global_clipnorm=1.0` in Keras and `clip_grad_norm_(..., 1.0)` in PyTorch: does
#    clipping change the curves on MNIST-1D? Print the largest gradient norm seen per epoch.
