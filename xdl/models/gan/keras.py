"""gan in Keras 3. Read it next to torch.py: the same layers, the same alternating updates."""

import dataclasses

import keras
import tensorflow as tf
from keras import layers

from xdl.backends.keras import make_optimizer
from xdl.models.autoencoder import keras as autoencoder
from xdl.models.gan import train_loop


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.gan.SPEC): generator then discriminator, each
    a model of its own (exported alone as the spec's parts)."""
    noise = spec.contract.inputs[0].shape[1]
    # The generator is the autoencoder's decoder: numbers in, a 28x28 image out. There it learnt to
    # draw from codes an encoder made; here from noise, judged by the discriminator.
    generator = autoencoder.decoder(noise, spec.part("generator").output.channels_last_shape, name="generator",
                                    input_name="noise")
    discriminator = keras.Sequential(
        [
            keras.Input(shape=spec.part("discriminator").contract.inputs[0].channels_last_shape, name="image"),  # (28, 28, 1)
            layers.Conv2D(16, 3, strides=2, padding="same", name="conv1"),
            # Keras 3's LeakyReLU slope defaults to 0.3, PyTorch's to 0.01: DCGAN's 0.2 in both.
            layers.LeakyReLU(negative_slope=0.2, name="leaky1"),
            layers.Conv2D(32, 3, strides=2, padding="same", name="conv2"),
            layers.LeakyReLU(negative_slope=0.2, name="leaky2"),
            layers.Flatten(name="flatten"),  # H, W, C order (PyTorch: C, H, W)
            layers.Dense(1, activation="sigmoid", name="real"),  # P(the image is a real digit)
        ],
        name="discriminator",
    )
    return keras.Sequential([generator, discriminator], name=spec.name)


def adversarial_update(net, d_optimizer, g_optimizer):
    """One step of each network on a batch of real images and a batch of noise; returns a function
    of (real, noise) giving the two losses before their steps."""
    generator, discriminator = net.get_layer("generator"), net.get_layer("discriminator")
    bce = keras.losses.BinaryCrossentropy()  # on probabilities: both sigmoids are in the models

    @tf.function
    def step(real, noise):
        # The discriminator learns to say 1 for real digits and 0 for generated ones.
        with tf.GradientTape() as tape:
            fake = generator(noise, training=True)
            real_p, fake_p = discriminator(real, training=True), discriminator(fake, training=True)
            d_loss = bce(tf.ones_like(real_p), real_p) + bce(tf.zeros_like(fake_p), fake_p)
        grads = tape.gradient(d_loss, discriminator.trainable_variables)
        d_optimizer.apply_gradients(zip(grads, discriminator.trainable_variables))
        # The generator learns to make the (just updated) discriminator say 1 for its images: the
        # "non-saturating" loss, whose gradient is strong while the discriminator wins.
        with tf.GradientTape() as tape:
            fake_p = discriminator(generator(noise, training=True), training=True)
            g_loss = bce(tf.ones_like(fake_p), fake_p)
        grads = tape.gradient(g_loss, generator.trainable_variables)
        g_optimizer.apply_gradients(zip(grads, generator.trainable_variables))
        return d_loss, g_loss

    return lambda real, noise: tuple(float(v) for v in step(real, noise))


def train(net, spec, data, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """The alternating updates over `data`'s real images, in the loop both twins share
    (xdl.models.gan.train_loop). Ends with the last epoch's weights (a GAN has no validation loss
    to choose an epoch by)."""
    update = adversarial_update(net, make_optimizer(spec.recipe), make_optimizer(spec.recipe))
    history = train_loop(spec, data, update, framework="keras", epochs=epochs, show_progress=show_progress)
    net.save_weights(checkpoint)
    return history


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """Training parity: per (noise, real images) batch, the discriminator's step then the
    generator's; returns each step's two losses summed (one number a step, as other models give:
    it differs between the twins where either loss does)."""
    def make():
        return keras.optimizers.SGD(learning_rate=lr) if optimizer == "sgd" else make_optimizer(
            dataclasses.replace(spec.recipe, lr=lr))

    update = adversarial_update(net, make(), make())
    return [sum(update(real, noise)) for noise, real in batches]
