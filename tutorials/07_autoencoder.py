# %% [markdown]
# # 7. Generative models: a convolutional autoencoder
#
# **Goals**
# - train an encoder and a decoder to copy digits through a 16-number code: `fit(x, x)` against
#   `MSELoss()(model(x), x)`;
# - see why two twins' errors differ after a short run (the plateau) and agree after the full one;
# - use the decoder alone as a generator, walking between two codes.
#
# **Prerequisites**: lesson 2 (convolutions) and lesson 1 (squared error, Adam).
#
# An autoencoder learns to copy its input through a bottleneck: an **encoder** squeezes each
# 28x28 digit into 16 numbers (a code), a **decoder** rebuilds the image from the code. No
# labels are needed (unsupervised learning). The decoder alone is a small **generative** model:
# give it a code, it draws a digit. (The articles name GANs as the other example of a generative
# model: a generator trained against a discriminator; the decoder here plays the generator's
# part, trained by reconstruction instead.)

# %%
import keras
import numpy as np
import torch

from xdl import data
from xdl.spec import registry
# xdl.teach.helpers: matplotlib for files (pyplot), a figure saved and shown (save_figure), a twin's
# code (show_code), a number recorded for the prose (glue), the committed twins' test metric (committed)
# lesson_size(n) is n; only the test suite's quick render (XDL_TUTORIAL_QUICK) trains less
from xdl.teach.helpers import committed, glue, lesson_size, pyplot, save_figure, show_code

torch.set_num_threads(1)  # small models: one thread is faster, by far beside a busy program (benchmarks/threads.md)

plt = pyplot()
spec = registry.get("autoencoder")
digits = data.load("digits", seed=0, validation_split=0.1)

# %% keras: encoder and decoder, each a model of its own
from xdl.models.autoencoder import keras as ae_keras

show_code(ae_keras.build)

# %% torch: the same, with TensorFlow's padding and cropping spelled out
from xdl.models.autoencoder import torch as ae_torch

show_code(ae_torch.Decoder)

# %% [markdown]
# ## Training: the input is the target
# Mean squared error between the image and its reconstruction, per pixel. Keras:
# `model.fit(x, x)`; PyTorch: `MSELoss()(model(x), x)`. Adam at 1e-3, batch 64, 15 epochs.

# %% keras: fit(x, x)
keras.utils.set_random_seed(0)
keras_model = ae_keras.build(spec)
keras_model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7), loss="mean_squared_error")
fit = keras_model.fit(digits.x_train, digits.x_train, batch_size=64, epochs=lesson_size(15), verbose=0)
losses = {"keras": fit.history["loss"]}
errors = {"keras": keras_model.evaluate(digits.x_test, digits.x_test, verbose=0)}

# %% torch: MSELoss()(model(x), x)
torch.manual_seed(0)
torch_model = ae_torch.build(spec)
optimizer = torch.optim.Adam(torch_model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = torch.nn.MSELoss()
x = torch.from_numpy(digits.x_train.transpose(0, 3, 1, 2).copy())  # channels first, in and out
losses["torch"] = []
for epoch in range(lesson_size(15)):
    torch_model.train()
    total = 0.0
    for idx in torch.randperm(len(x)).split(64):
        loss = loss_fn(torch_model(x[idx]), x[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item() * len(idx)
    losses["torch"].append(total / len(x))
torch_model.eval()
with torch.no_grad():
    x_test = torch.from_numpy(digits.x_test.transpose(0, 3, 1, 2).copy())
    errors["torch"] = loss_fn(torch_model(x_test), x_test).item()

# %%
for name, error in errors.items():
    print(f"{name}: test reconstruction error (MSE per pixel) {error:.4f}")
    glue(f"ae_{name}_error", error)
average = ((digits.x_test - digits.x_train.mean(axis=0)) ** 2).mean()  # every test digit drawn as the average one
print(f"drawing the average training digit for every test digit: {average:.4f}")
glue("ae_average_digit_error", average)

# %% [markdown]
# ## Why the twins' errors differ here
# Both fall within a few epochs to a plateau near {glue:text}`ae_average_digit_error:.3f`, the
# error of drawing the blurry average digit whatever the input (the training errors per epoch
# below), and leave it once the code starts to tell digits apart. When that happens depends on each twin's
# own random initial weights (each framework draws them with its own generator): after 15 epochs one may be
# falling fast while the other is still leaving the plateau (here their test errors are
# {glue:text}`ae_keras_error:.4f` and {glue:text}`ae_torch_error:.4f`). The committed twins,
# trained until the validation error stops improving (up to 40 epochs), end within the margin
# their spec states:

# %%
for name, curve in losses.items():
    print(f"{name}: training error per epoch: " + ", ".join(f"{v:.4f}" for v in curve))
full = committed("autoencoder")  # xdl.teach.helpers: the committed twins' test metric, from their manifests
print(f"here: gap {abs(errors['keras'] - errors['torch']):.4f}; committed: keras {full['keras']:.4f}, "
      f"torch {full['torch']:.4f}, gap {abs(full['keras'] - full['torch']):.4f} (the spec's margin {spec.expectations.margin})")

# %%
x = digits.x_test[:8]
with torch.no_grad():
    rows = {"original": x[..., 0], "keras": keras_model.predict(x, verbose=0)[..., 0],
            "torch": torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()[:, 0]}
fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
for r, (label, images) in enumerate(rows.items()):
    for c in range(8):
        axes[r, c].imshow(images[c], cmap="gray", vmin=0, vmax=1)
        axes[r, c].axis("off")
    axes[r, 0].set_title(label, fontsize=8, loc="left")
save_figure(fig, "07_reconstructions")

# %% [markdown]
# ## The decoder as a generator
# Walk in a straight line from the code of a 3 to the code of an 8 and decode every step: the
# decoder draws the digits in between. The decoder is also exported on its own
# (`exported_models/autoencoder/<framework>-decoder/`), codes in, images out.

# %%
encoder, decoder = keras_model.get_layer("encoder"), keras_model.get_layer("decoder")  # models of their own
three = digits.x_test[digits.y_test == 3][:1]
eight = digits.x_test[digits.y_test == 8][:1]
codes = encoder.predict(np.concatenate([three, eight]), verbose=0)
steps = np.linspace(0, 1, 8)[:, None]
path = (1 - steps) * codes[0] + steps * codes[1]
images = decoder.predict(path.astype(np.float32), verbose=0)[..., 0]
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, image in zip(axes, images):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
save_figure(fig, "07_generated")
print("code of the 3:", codes[0].round(2))

# %% [markdown]
# ## Exercises
# 1. Shrink the code from 16 numbers to 4 and to 2 in both twins: how does the test error change, and
#    what do the reconstructions lose first?
# 2. Train on noisy digits (`x + 0.3 * noise`, clipped to [0, 1]) with the clean digits as targets
#    (`fit(noisy, x)`, `MSELoss()(model(noisy), x)`): a denoising autoencoder. Show a few cleaned digits.
# 3. Decode random codes drawn from a normal distribution with the codes' mean and spread: do they look
#    like digits? Compare with the GAN of lesson 14.
