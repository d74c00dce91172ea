# %% [markdown]
# # 1. A first network, in Keras and in PyTorch
#
# The articles' first model is a multilayer perceptron: 784 pixel values in, one hidden layer of
# 512 **neurons**, 10 outputs, one per digit. Each neuron computes a weighted sum of its inputs
# plus a bias and passes it through an **activation function**; a **layer** is many neurons
# reading the same inputs. The input layer is the pixels, the hidden layer learns features, the
# output layer turns them into class probabilities with a softmax.
#
# This tutorial builds it in both frameworks, trains both on the same digits, and checks that
# they are one network: same parameters, same numbers. It also looks at the parts one by one:
# a neuron, activations, losses, backpropagation and optimizers. About a minute on a laptop CPU.
#
# **Goals**
# - compute a neuron and a layer by hand and check them against Keras's `Dense` and PyTorch's
#   `nn.Linear`
# - derive the gradient of a two-layer network with the chain rule and check it against both
#   frameworks' autograd
# - train the same network with Keras's `compile()` + `fit()` and with a PyTorch loop written out,
#   and compare SGD, momentum, RMSprop and Adam in both
# - tune the learning rate and the batch size on a validation set
#
# **Prerequisites**: Python and NumPy (arrays, matrix products); derivatives of one variable.
# No earlier lesson: this is the first.

# %%
import numpy as np

from xdl import backends, data, models
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's code
# shown (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

plt = pyplot()
spec = registry.get("mlp")
digits = data.load("digits", seed=0)
print(f"{len(digits.x_train)} training and {len(digits.x_test)} test images of shape {digits.x_train.shape[1:]}")

# %% [markdown]
# ## One neuron, by hand and in both frameworks
# A neuron with inputs $x$, weights $w$ and bias $b$ computes
# $y = \sigma(w \cdot x + b) = \sigma\left(\sum_i w_i x_i + b\right)$, where $\sigma$ is its activation
# (here the sigmoid, $\sigma(z) = 1 / (1 + e^{-z})$). Keras's `Dense(1, activation="sigmoid")` is
# one such neuron; PyTorch splits it into `nn.Linear(3, 1)` and `torch.sigmoid`. Both are given
# the same three weights and bias, and must agree with the sum written out.

# %%
import keras
import torch

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

x_one = np.array([[0.5, -1.0, 2.0]], np.float32)  # one example, three inputs
w_one = np.array([0.2, 0.4, -0.1], np.float32)
b_one = np.float32(0.3)
weighted_sum = float(np.sum(w_one * x_one[0]) + b_one)
by_hand = 1 / (1 + np.exp(-weighted_sum))
print(f"w . x + b = {weighted_sum:.4f}, sigmoid of it = {by_hand:.6f}")

# %% keras: one neuron tags=["concept:neuron"]
neuron = keras.layers.Dense(1, activation="sigmoid")
neuron.build((None, 3))
neuron.set_weights([w_one.reshape(3, 1), np.array([b_one])])  # kernel (inputs, units), as Keras stores it
keras_neuron = float(np.asarray(neuron(x_one))[0, 0])
print(f"Keras Dense(1, sigmoid): {keras_neuron:.6f}")
assert abs(keras_neuron - by_hand) < 1e-6, "Keras's neuron is not sigmoid(w . x + b)"

# %% torch: one neuron tags=["concept:neuron"]
linear = torch.nn.Linear(3, 1)
with torch.no_grad():  # setting weights is not a step to differentiate
    linear.weight.copy_(torch.from_numpy(w_one.reshape(1, 3)))  # weight (units, inputs): the transpose
    linear.bias.fill_(float(b_one))
torch_neuron = torch.sigmoid(linear(torch.from_numpy(x_one))).item()
print(f"PyTorch sigmoid(Linear(3, 1)): {torch_neuron:.6f}")
assert abs(torch_neuron - by_hand) < 1e-6, "PyTorch's neuron is not sigmoid(w . x + b)"

# %% [markdown]
# ## Activation functions and their ranges
# Without a non-linear activation, stacked layers collapse into one linear map. The articles
# name four; their output ranges decide where each is used (sigmoid for a probability, ReLU in
# hidden layers because its gradient does not shrink for positive inputs). Leaky ReLU (dashed)
# equals ReLU for positive inputs and keeps a slope of 0.1 below zero, so no neuron's gradient is
# exactly zero.

# %%
z = np.linspace(-5, 5, 201)
activations = {
    "sigmoid (0, 1)": 1 / (1 + np.exp(-z)),
    "tanh (-1, 1)": np.tanh(z),
    "ReLU [0, inf)": np.maximum(z, 0),
    "Leaky ReLU (-inf, inf)": np.where(z > 0, z, 0.1 * z),
}
fig, ax = plt.subplots(figsize=(6, 3.5))
styles = {"ReLU [0, inf)": {"linewidth": 4, "alpha": 0.5}, "Leaky ReLU (-inf, inf)": {"linestyle": "--"}}
for name, values in activations.items():
    ax.plot(z, values, label=name, **styles.get(name, {}))  # ReLU wide and pale: Leaky ReLU overlaps it above 0
    print(f"{name:24s} min {values.min():7.3f}  max {values.max():7.3f}")
ax.set_ylim(-1.5, 3)
ax.legend()
ax.set_title("activation functions")
save_figure(fig, "01_activations")

# %% [markdown]
# ## The same network, written twice
# Keras declares layers and infers their input sizes; PyTorch spells every size out. Keras puts
# the softmax in the last layer; PyTorch returns logits and leaves the softmax to the loss
# (`CrossEntropyLoss`) and to inference. The two files live in `xdl/models/mlp/`.

# %% keras: the model
from xdl.models.mlp import keras as mlp_keras

show_code(mlp_keras.build)

# %% torch: the model
from xdl.models.mlp import torch as mlp_torch

show_code(mlp_torch.build)

# %%
kfw, tfw = backends.load("keras"), backends.load("torch")
kfw.seed_everything(0)
tfw.seed_everything(0)
knet, tnet = models.build(spec, "keras"), models.build(spec, "torch")
print("parameters:", kfw.count_params(knet), "(Keras)", tfw.count_params(tnet), "(PyTorch)")
print("784 * 512 + 512 =", 784 * 512 + 512, "in the hidden layer;", 512 * 10 + 10, "in the output layer")

# %% [markdown]
# ## Losses
# A loss turns "how wrong" into one number. For classification the articles use cross-entropy,
# $-\log p_{\text{right class}}$ (in general $-\sum_k t_k \log p_k$ for a target distribution $t$);
# squared error, $\sum_k (t_k - p_k)^2$, suits regression; KL divergence,
# $\sum_k t_k \log(t_k / p_k)$, measures how far one distribution is from another (cross-entropy
# minus the target's own entropy).

# %%
target = np.array([0.0, 1.0, 0.0])
for guess in ([0.1, 0.8, 0.1], [0.4, 0.3, 0.3], [0.9, 0.05, 0.05]):
    p = np.array(guess)
    cross_entropy = -np.sum(target * np.log(p))
    squared = np.sum((target - p) ** 2)
    smooth = np.array([0.05, 0.9, 0.05])  # a soft target, where KL is not just cross-entropy
    kl = np.sum(smooth * np.log(smooth / p))
    print(f"guess {guess}: cross-entropy {cross_entropy:.3f}  squared error {squared:.3f}  KL(soft target) {kl:.3f}")

# %% [markdown]
# ## Backpropagation is the chain rule
# The network is two layers: $z_1 = x W_1 + b_1$, $h = \mathrm{relu}(z_1)$, $z_2 = h W_2 + b_2$,
# $p = \mathrm{softmax}(z_2)$, and the loss is the mean cross-entropy over $N$ images,
# $L = -\frac{1}{N} \sum_n \log p_{n, y_n}$. The chain rule carries $\partial L / \partial z_2$ back
# one step at a time:
#
# $$\frac{\partial L}{\partial z_2} = \frac{p - \mathrm{onehot}(y)}{N}, \quad
# \frac{\partial L}{\partial W_2} = h^\top \frac{\partial L}{\partial z_2}, \quad
# \frac{\partial L}{\partial h} = \frac{\partial L}{\partial z_2} W_2^\top, \quad
# \frac{\partial L}{\partial z_1} = \frac{\partial L}{\partial h} \odot [z_1 > 0], \quad
# \frac{\partial L}{\partial W_1} = x^\top \frac{\partial L}{\partial z_1}$$
#
# and each bias's gradient is its layer's $\partial L / \partial z$ summed over the images. Below,
# NumPy computes these for the Keras twin's initial weights and 32 images; both frameworks'
# autograd, which record the forward computation and apply the chain rule backwards, must find
# the same numbers. Dropout is off (`training=False`, `eval()`): it would draw a different mask
# in each framework.

# %%
import tensorflow as tf

from xdl import twins

twins.port("mlp", "keras", knet, tnet)  # PyTorch twin gets Keras's initial weights
x, y = digits.x_train[:32], digits.y_train[:32]
n = len(x)
W1, b1, W2, b2 = knet.get_layer("dense1").get_weights() + knet.get_layer("dense2").get_weights()
flat = x.reshape(n, -1)  # what Flatten does
z1 = flat @ W1 + b1
h = np.maximum(z1, 0)
z2 = h @ W2 + b2
p = np.exp(z2 - z2.max(1, keepdims=True))
p /= p.sum(1, keepdims=True)  # softmax
loss_by_hand = -np.log(p[np.arange(n), y]).mean()
d_z2 = (p - np.eye(10, dtype=np.float32)[y]) / n  # softmax and cross-entropy together
d_W2, d_b2 = h.T @ d_z2, d_z2.sum(0)
d_h = d_z2 @ W2.T
d_z1 = d_h * (z1 > 0)  # relu passes the gradient where it passed the input
d_W1, d_b1 = flat.T @ d_z1, d_z1.sum(0)
by_hand = {"dense1 kernel": d_W1, "dense1 bias": d_b1, "dense2 kernel": d_W2, "dense2 bias": d_b2}
print(f"loss by hand {loss_by_hand:.6f}; gradient shapes:", {k: v.shape for k, v in by_hand.items()})

# %% keras: autograd with GradientTape tags=["concept:chain-rule"]
with tf.GradientTape() as tape:
    loss_k = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, knet(x, training=False)))
variables = [knet.get_layer(name).kernel for name in ("dense1", "dense2")] + [knet.get_layer(name).bias for name in ("dense1", "dense2")]
grads_k = dict(zip(["dense1 kernel", "dense2 kernel", "dense1 bias", "dense2 bias"], tape.gradient(loss_k, variables)))
gap_k = max(np.abs(by_hand[k] - g.numpy()).max() for k, g in grads_k.items())
print(f"loss: Keras {float(loss_k):.6f}; largest gradient difference to the hand's {gap_k:.1e}")
assert gap_k < 1e-5, "Keras's gradient is not the chain rule's"

# %% torch: autograd with backward() tags=["concept:chain-rule"]
tnet.eval()
loss_t = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
loss_t.backward()
grads_t = {"dense1 kernel": tnet.dense1.weight.grad.T, "dense1 bias": tnet.dense1.bias.grad,  # PyTorch stores
           "dense2 kernel": tnet.dense2.weight.grad.T, "dense2 bias": tnet.dense2.bias.grad}  # the transpose
gap_t = max(np.abs(by_hand[k] - g.numpy()).max() for k, g in grads_t.items())
print(f"loss: PyTorch {loss_t.item():.6f}; largest gradient difference to the hand's {gap_t:.1e}")
assert gap_t < 1e-5, "PyTorch's gradient is not the chain rule's"

# %% [markdown]
# ## Optimizers
# Gradient descent moves every weight against its gradient, $w \leftarrow w - \eta \, \partial L / \partial w$
# with a learning rate $\eta$. **Mini-batch** SGD estimates the gradient on a batch; momentum keeps
# a running direction; RMSprop divides by a running average of squared gradients; Adam does both.
# Each framework runs each optimizer from the same start (the Keras twin's initial weights) on the
# same 150 batches of 64, with dropout off, so their losses can be compared step by step. The
# settings Keras and PyTorch default differently are set alike: RMSprop's decay (`rho` and `alpha`,
# 0.9) and the epsilons (1e-7). Each cell first checks one plain SGD step against the formula.
# The epsilons cannot be made to mean the same: Keras's RMSprop divides by $\sqrt{v + \epsilon}$,
# PyTorch's by $\sqrt{v} + \epsilon$, and Keras's Adam adds its epsilon after the bias correction
# (Kingma and Ba's $\hat\epsilon$), PyTorch's before (lesson 11 measures it).

# %%
STEPS = lesson_size(150, quick=20)  # the moving average below spans 10
batches = np.random.default_rng(0).integers(0, len(digits.x_train), (STEPS, 64))
start = knet.get_weights()
start_torch = {k: v.clone() for k, v in tnet.state_dict().items()}  # the same weights, ported above

# %% keras: the optimizers tags=["concept:optimizers"]
def keras_step(net, optimizer, idx):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            digits.y_train[idx], net(digits.x_train[idx], training=False)))
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return float(loss), grads


def keras_run(optimizer):
    net = mlp_keras.build(spec)
    net.set_weights(start)
    return [keras_step(net, optimizer, idx)[0] for idx in batches]


net = mlp_keras.build(spec)
net.set_weights(start)
_, grads = keras_step(net, keras.optimizers.SGD(learning_rate=0.01), batches[0])
sgd_gap_k = np.abs(net.get_weights()[0] - (start[0] - 0.01 * grads[0].numpy())).max()
print(f"one SGD step against w - lr * gradient: largest difference {sgd_gap_k:.1e}")
assert sgd_gap_k < 1e-6, "Keras's SGD step is not w - lr * gradient"
keras_curves = {
    "SGD": keras_run(keras.optimizers.SGD(learning_rate=0.01)),
    "SGD + momentum 0.9": keras_run(keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)),
    "RMSprop": keras_run(keras.optimizers.RMSprop(learning_rate=1e-3, rho=0.9, epsilon=1e-7)),
    "Adam": keras_run(keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7)),
}

# %% torch: the optimizers tags=["concept:optimizers"]
xs = torch.from_numpy(digits.x_train.transpose(0, 3, 1, 2).copy())
ys = torch.from_numpy(digits.y_train)


def torch_step(net, optimizer, idx):
    loss = torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def torch_run(make_optimizer):
    net = mlp_torch.build(spec)
    net.load_state_dict(start_torch)
    net.eval()  # dropout off, as training=False above
    optimizer = make_optimizer(net.parameters())
    return [torch_step(net, optimizer, torch.from_numpy(idx)) for idx in batches]


net = mlp_torch.build(spec)
net.load_state_dict(start_torch)
net.eval()
torch_step(net, torch.optim.SGD(net.parameters(), lr=0.01), torch.from_numpy(batches[0]))
expected = start_torch["dense1.weight"] - 0.01 * net.dense1.weight.grad
sgd_gap_t = (net.dense1.weight.detach() - expected).abs().max().item()
print(f"one SGD step against w - lr * gradient: largest difference {sgd_gap_t:.1e}")
assert sgd_gap_t < 1e-6, "PyTorch's SGD step is not w - lr * gradient"
torch_curves = {
    "SGD": torch_run(lambda p: torch.optim.SGD(p, lr=0.01)),
    "SGD + momentum 0.9": torch_run(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    "RMSprop": torch_run(lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7)),
    "Adam": torch_run(lambda p: torch.optim.Adam(p, lr=1e-3, eps=1e-7)),
}
gap = {name: np.abs(np.subtract(keras_curves[name], torch_curves[name])).max() for name in torch_curves}
final = {name: (np.mean(keras_curves[name][-10:]), np.mean(torch_curves[name][-10:])) for name in torch_curves}
for name, (k, t) in final.items():
    print(f"{name:20s} loss after {STEPS} steps (last 10): Keras {k:.3f}, PyTorch {t:.3f}; "
          f"largest gap on one step {gap[name]:.1e}")
assert max(gap["SGD"], gap["SGD + momentum 0.9"]) < 1e-4, "the same SGD from the same start parts in the two frameworks"
# where the epsilons differ, the paths part a little but end alike
assert all(abs(k - t) < 0.1 for k, t in final.values()), "an optimizer ends elsewhere in the two frameworks"

# %%
mean_loss = {name: (k + t) / 2 for name, (k, t) in final.items()}  # the two frameworks' mean
glue("mlp_optimizer_best", min(mean_loss, key=mean_loss.get))
glue("mlp_optimizer_worst", max(mean_loss, key=mean_loss.get))
glue("mlp_optimizer_sgd_gap", max(gap["SGD"], gap["SGD + momentum 0.9"]))
glue("mlp_optimizer_adaptive_gap", max(gap["RMSprop"], gap["Adam"]))
glue("mlp_optimizer_final_gap", max(abs(k - t) for k, t in final.values()))
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
for ax, (framework, curves) in zip(axes, (("keras", keras_curves), ("torch", torch_curves))):
    for name, losses in curves.items():
        ax.plot(np.convolve(losses, np.ones(10) / 10, mode="valid"), label=name)
    ax.set_title(framework)
    ax.set_xlabel("step")
axes[0].set_ylabel("training loss (moving average)")
axes[0].legend()
save_figure(fig, "01_optimizers")

# %% [markdown]
# From the same start on the same batches, SGD's and momentum's losses in the two frameworks stay
# within {glue:text}`mlp_optimizer_sgd_gap:.1e` of each other at every step: the same algorithm,
# float32 rounding in a different order. RMSprop's and Adam's part by up to
# {glue:text}`mlp_optimizer_adaptive_gap:.1e` on a step, through their epsilons, and end within
# {glue:text}`mlp_optimizer_final_gap:.3f` of each other. After 150 steps
# {glue:text}`mlp_optimizer_best:s` has the lowest loss and {glue:text}`mlp_optimizer_worst:s` the
# highest: plain SGD at this learning rate crawls; momentum, RMSprop and Adam take larger
# effective steps.

# %% [markdown]
# ## Training both twins with the article's recipe
# RMSprop, batch 128, cross-entropy, 15 epochs (the committed model trains 30). Keras trains with
# `compile()` + `fit()`; PyTorch with a loop written out: the optimizer and the loss are named
# by hand, and so are two defaults that differ (RMSprop's decay is `rho=0.9` in Keras and
# `alpha=0.99` in PyTorch, its epsilon 1e-7 and 1e-8: set to Keras's values here).

# %% keras: compile() and fit()
keras.utils.set_random_seed(0)
keras_model = mlp_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3, rho=0.9, epsilon=1e-7),
                    loss="sparse_categorical_crossentropy", metrics=["accuracy"])
fit = keras_model.fit(digits.x_train, digits.y_train, batch_size=128, epochs=lesson_size(15), verbose=0)
_, keras_accuracy = keras_model.evaluate(digits.x_test, digits.y_test, verbose=0)
print(f"keras: test accuracy {keras_accuracy:.4f}")

# %% torch: the loop, written out
torch.manual_seed(0)
torch_model = mlp_torch.build(spec)
optimizer = torch.optim.RMSprop(torch_model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()  # takes logits: the softmax is inside the loss
x_train = torch.from_numpy(digits.x_train.transpose(0, 3, 1, 2).copy())  # channels first
y_train = torch.from_numpy(digits.y_train)
torch_losses = []
for epoch in range(lesson_size(15)):
    torch_model.train()  # dropout on
    total = 0.0
    for idx in torch.randperm(len(x_train)).split(128):  # shuffled mini-batches, as fit() makes
        loss = loss_fn(torch_model(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    torch_losses.append(total / len(x_train))
torch_model.eval()  # dropout off
with torch.no_grad():
    logits = torch_model(torch.from_numpy(digits.x_test.transpose(0, 3, 1, 2).copy()))
torch_accuracy = (logits.argmax(1).numpy() == digits.y_test).mean()
print(f"torch: test accuracy {torch_accuracy:.4f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(fit.history["loss"], label="keras training loss")
ax.plot(torch_losses, label="torch training loss")
ax.set_xlabel("epoch")
ax.legend()
ax.set_title("mlp on digits: both frameworks")
save_figure(fig, "01_loss_curves")
glue("mlp_keras_acc", keras_accuracy)
glue("mlp_torch_acc", torch_accuracy)
glue("mlp_acc_gap", abs(keras_accuracy - torch_accuracy))
glue("mlp_acc_gap_images", round(abs(keras_accuracy - torch_accuracy) * len(digits.y_test)))
glue("mlp_test_images", len(digits.y_test))
full = committed("mlp")  # xdl.teach.helpers: the committed twins' test accuracy, from their manifests
glue("mlp_committed_keras_acc", full["keras"])
glue("mlp_committed_torch_acc", full["torch"])
print(f"committed (30 epochs on all the training digits): keras {full['keras']:.4f}, torch {full['torch']:.4f}")

# %% [markdown]
# After 15 epochs Keras reaches {glue:text}`mlp_keras_acc:.4f` test accuracy and PyTorch
# {glue:text}`mlp_torch_acc:.4f`, {glue:text}`mlp_acc_gap:.4f` apart: each framework draws its own
# random initial weights, dropout masks and shuffles: {glue:text}`mlp_acc_gap_images:d` of the
# {glue:text}`mlp_test_images:d` test digits.
# Started from the same weights with dropout off, the two follow the same path, as the optimizer
# comparison above showed (`xdl parity steps mlp --steps 20` shows it for the recipe). The
# committed twins, trained for the recipe's 30 epochs, reach {glue:text}`mlp_committed_keras_acc:.4f`
# (Keras) and {glue:text}`mlp_committed_torch_acc:.4f` (PyTorch).
#
# ## Hyperparameter tuning: a small search, the same in both frameworks
# The learning rate and the batch size are set before training and tuned by trying values:
# each candidate trains on the training set and is judged on the **validation** set, never the
# test set, which must stay unseen until the choice is made. A grid of 3 x 2 candidates, three
# epochs each, run through the same `fit()` and the same loop as above.

# %%
tuning = data.load("digits", seed=0, validation_split=0.2)
grid = [(lr, batch) for lr in (1e-4, 1e-3, 1e-2) for batch in (32, 128)]


def keras_candidate(lr, batch):
    keras.utils.set_random_seed(0)
    model = mlp_keras.build(spec)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=lr, rho=0.9, epsilon=1e-7),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(tuning.x_train, tuning.y_train, batch_size=batch, epochs=lesson_size(3), verbose=0)
    return model.evaluate(tuning.x_val, tuning.y_val, verbose=0)[1]


def torch_candidate(lr, batch):
    torch.manual_seed(0)
    model = mlp_torch.build(spec)
    opt = torch.optim.RMSprop(model.parameters(), lr=lr, alpha=0.9, eps=1e-7)
    x = torch.from_numpy(tuning.x_train.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(tuning.y_train)
    for epoch in range(lesson_size(3)):
        model.train()
        for idx in torch.randperm(len(x)).split(batch):
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.from_numpy(tuning.x_val.transpose(0, 3, 1, 2).copy())).argmax(1).numpy()
    return (predicted == tuning.y_val).mean()


search = {"keras": [keras_candidate(*c) for c in grid], "torch": [torch_candidate(*c) for c in grid]}
for (lr, batch), k, t in zip(grid, search["keras"], search["torch"]):
    print(f"lr {lr:g}, batch {batch:3d}: validation accuracy keras {k:.3f}, torch {t:.3f}")
ranking = {name: [f"lr {grid[i][0]:g}, batch {grid[i][1]}" for i in np.argsort(scores)[::-1]]
           for name, scores in search.items()}
for name, order in ranking.items():
    print(f"{name} ranks, best first: " + "; ".join(order))
same = [place + 1 for place, (k, t) in enumerate(zip(ranking["keras"], ranking["torch"])) if k == t]
print("places where both rank the same candidate:", same)
glue("mlp_search_best_keras", ranking["keras"][0])
glue("mlp_search_best_torch", ranking["torch"][0])
glue("mlp_search_same_places", len(same))
glue("mlp_search_worst_keras", ranking["keras"][-1])
glue("mlp_search_worst_torch", ranking["torch"][-1])
glue("mlp_search_largest_gap", np.abs(np.subtract(search["keras"], search["torch"])).max())
fig, ax = plt.subplots(figsize=(7, 3.5))
positions = np.arange(len(grid))
ax.bar(positions - 0.2, search["keras"], 0.4, label="keras")
ax.bar(positions + 0.2, search["torch"], 0.4, label="torch")
ax.set_xticks(positions, [f"lr {lr:g}\nbatch {b}" for lr, b in grid])
ax.set_ylabel("validation accuracy after 3 epochs")
ax.legend()
save_figure(fig, "01_hyperparameter_search")

# %% [markdown]
# Too small a learning rate crawls, too large a one overshoots; a smaller batch takes more steps
# per epoch. Keras's best candidate is {glue:text}`mlp_search_best_keras:s` and PyTorch's
# {glue:text}`mlp_search_best_torch:s`; their worst, {glue:text}`mlp_search_worst_keras:s` and
# {glue:text}`mlp_search_worst_torch:s`. The two rankings put the same candidate in
# {glue:text}`mlp_search_same_places:d` of the 6 places, not all: one candidate's accuracy differs
# between the frameworks by up to {glue:text}`mlp_search_largest_gap:.3f`, because each draws its
# own initial weights, dropout masks and shuffles, and candidates closer than that swap places.
# What the search is for, the best candidate, is a property of the model and the data where it
# stands clear of the rest; to order close candidates, train each with several seeds and compare
# the means. Epochs, the dropout rate and layer sizes are tuned the same way.

# %% [markdown]
# ## Exercises
# 1. In the neuron cells, change the activation to `"relu"` in Keras and `torch.relu` in PyTorch,
#    and the check to $\max(0, w \cdot x + b)$. Make $w \cdot x + b$ negative (set the bias to
#    -2): what does the neuron output, and why does a ReLU neuron that outputs this for every
#    input stop learning?
# 2. In the chain-rule cells, replace `relu` by `tanh` in the hand computation (its derivative is
#    $1 - \tanh^2 z_1$) and build the twins with `activation="tanh"` (Keras) and `nn.Tanh()`
#    (PyTorch) instead of `models.build`; the checks must still pass.
# 3. Add a learning rate of 0.1 to the optimizer comparison for SGD and for Adam, in both
#    frameworks. Which one diverges, and do Keras and PyTorch still agree step by step?
