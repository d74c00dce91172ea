# %% [markdown]
# # 7. Generative models: a convolutional autoencoder
#
# An autoencoder learns to copy its input through a bottleneck: an **encoder** squeezes each
# 28x28 digit into 16 numbers (a code), a **decoder** rebuilds the image from the code. No
# labels are needed (unsupervised learning). The decoder alone is a small **generative** model:
# give it a code, it draws a digit. (The articles name GANs as the other example of a generative
# model: a generator trained against a discriminator; the decoder here plays the generator's
# part, trained by reconstruction instead.)

# %%
import numpy as np

from xdl import backends, data
from xdl.spec import registry, tasks
from xdl.teach.helpers import pyplot, save_figure, source, train

plt = pyplot()
spec = registry.get("autoencoder")
digits = data.load("digits", seed=0, validation_split=0.1)

# %% keras: encoder and decoder, each a model of its own
from xdl.models.autoencoder import keras as ae_keras

print(source(ae_keras.build))

# %% torch: the same, with TensorFlow's padding and cropping spelled out
from xdl.models.autoencoder import torch as ae_torch

print(source(ae_torch.Decoder))

# %% [markdown]
# ## Training: the input is the target
# Mean squared error between the image and its reconstruction, per pixel. Keras:
# `model.fit(x, x)`; PyTorch: `MSELoss()(model(x), x)`.

# %%
nets, errors = {}, {}
for name in ("keras", "torch"):
    nets[name], _ = train(name, spec, digits, epochs=15)
    recon = backends.load(name).predict(nets[name], spec, digits.x_test)
    errors[name] = tasks.score("reconstruction", spec.output.from_contract(recon), digits.x_test, digits.y_test)
    print(f"{name}: test reconstruction error (MSE per pixel) {errors[name]:.4f}")

# %%
kfw, tfw = backends.load("keras"), backends.load("torch")
x = digits.x_test[:8]
rows = {"original": x[..., 0]}
for name, fw in (("keras", kfw), ("torch", tfw)):
    rows[name] = fw.predict(nets[name], spec, x)[:, 0]
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
encoder, decoder = kfw.part(nets["keras"], "encoder"), kfw.part(nets["keras"], "decoder")
enc_spec, dec_spec = spec.part("encoder"), spec.part("decoder")
three = digits.x_test[digits.y_test == 3][:1]
eight = digits.x_test[digits.y_test == 8][:1]
codes = kfw.predict(encoder, enc_spec, np.concatenate([three, eight]))
steps = np.linspace(0, 1, 8)[:, None]
path = (1 - steps) * codes[0] + steps * codes[1]
images = kfw.predict(decoder, dec_spec, path.astype(np.float32))[:, 0]
fig, axes = plt.subplots(1, 8, figsize=(8, 1.3))
for ax, image in zip(axes, images):
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.axis("off")
save_figure(fig, "07_generated")
print("code of the 3:", codes[0].round(2))
