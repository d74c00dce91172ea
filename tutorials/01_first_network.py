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
# activations, losses, backpropagation and optimizers. About a minute on a laptop CPU.

# %%
import numpy as np

from xdl import backends, data, models
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a function's source
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import lesson_size, pyplot, save_figure, source

plt = pyplot()
spec = registry.get("mlp")
digits = data.load("digits", seed=0)
print(f"{len(digits.x_train)} training and {len(digits.x_test)} test images of shape {digits.x_train.shape[1:]}")

# %% [markdown]
# ## Activation functions and their ranges
# Without a non-linear activation, stacked layers collapse into one linear map. The articles
# name four; their output ranges decide where each is used (sigmoid for a probability, ReLU in
# hidden layers because its gradient does not shrink for positive inputs).

# %%
z = np.linspace(-5, 5, 201)
activations = {
    "sigmoid (0, 1)": 1 / (1 + np.exp(-z)),
    "tanh (-1, 1)": np.tanh(z),
    "ReLU [0, inf)": np.maximum(z, 0),
    "Leaky ReLU (-inf, inf)": np.where(z > 0, z, 0.1 * z),
}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in activations.items():
    ax.plot(z, values, label=name)
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

print(source(mlp_keras.build))

# %% torch: the model
from xdl.models.mlp import torch as mlp_torch

print(source(mlp_torch.build))

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
# -log(probability of the right class); squared error suits regression; KL divergence measures
# how far one distribution is from another (cross-entropy minus the target's own entropy).

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
# Both frameworks record the forward computation and apply the chain rule backwards. Here both
# compute the gradient of the loss for the same weights and the same 32 images.

# %%
import keras
import tensorflow as tf
import torch

from xdl import twins

twins.port("mlp", "keras", knet, tnet)  # PyTorch twin gets Keras's initial weights
x, y = digits.x_train[:32], digits.y_train[:32]

# %% keras: gradients
with tf.GradientTape() as tape:
    loss_k = keras.losses.sparse_categorical_crossentropy(y, knet(x, training=False))
    loss_k = tf.reduce_mean(loss_k)
grad_k = tape.gradient(loss_k, knet.get_layer("dense2").kernel).numpy()  # (512, 10)

# %% torch: gradients
tnet.eval()
loss_t = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
loss_t.backward()
grad_t = tnet.dense2.weight.grad.numpy()  # (10, 512): PyTorch stores the transpose

# %%
print(f"loss: Keras {float(loss_k):.6f}, PyTorch {loss_t.item():.6f}")
print(f"gradient of the output layer: max difference {np.abs(grad_k - grad_t.T).max():.1e}")

# %% [markdown]
# ## Optimizers
# Gradient descent moves every weight against its gradient. Mini-batch SGD estimates the gradient
# on a batch; momentum keeps a running direction; RMSprop divides by a running average of squared
# gradients; Adam does both. Same network, same batches, 150 steps each (PyTorch, for speed):

# %%
STEPS = lesson_size(150, quick=20)  # the moving average below spans 10


def run(make_optimizer, steps=STEPS, batch=64):
    torch.manual_seed(0)
    net = models.build(spec, "torch")
    opt = make_optimizer(net.parameters())
    rng = np.random.default_rng(0)
    xs = torch.from_numpy(digits.x_train.transpose(0, 3, 1, 2).copy())
    ys = torch.from_numpy(digits.y_train)
    losses = []
    for _ in range(steps):
        idx = torch.from_numpy(rng.integers(0, len(xs), batch))
        loss = torch.nn.functional.cross_entropy(net(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


curves = {
    "SGD lr 0.01": run(lambda p: torch.optim.SGD(p, lr=0.01)),
    "SGD + momentum 0.9": run(lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)),
    "RMSprop lr 1e-3": run(lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9)),
    "Adam lr 1e-3": run(lambda p: torch.optim.Adam(p, lr=1e-3)),
}
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, losses in curves.items():
    ax.plot(np.convolve(losses, np.ones(10) / 10, mode="valid"), label=name)
    print(f"{name:20s} loss after {STEPS} steps: {np.mean(losses[-10:]):.3f}")
ax.set_xlabel("step")
ax.set_ylabel("training loss (moving average)")
ax.legend()
save_figure(fig, "01_optimizers")

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

# %% [markdown]
# The two accuracies differ by a few tenths of a point: each framework draws its own random
# initial weights, dropout masks and shuffles. Started from the same weights with dropout off,
# the two follow the same path (`xdl parity steps mlp --steps 20` shows it step by step).
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
best = {name: grid[int(np.argmax(scores))] for name, scores in search.items()}
print("best candidate: keras", best["keras"], "torch", best["torch"])
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
# per epoch. Both frameworks rank the candidates alike: the search is a property of the model and
# the data, not of the framework. Epochs, the dropout rate and layer sizes are tuned the same way.
