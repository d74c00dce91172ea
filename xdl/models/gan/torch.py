"""gan in PyTorch. Read it next to keras.py: the same layers, the same alternating updates."""

import dataclasses
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from xdl.backends.torch import keras_like_init, make_optimizer, save_weights
from xdl.models.autoencoder.torch import Decoder
from xdl.models.gan import train_loop


class GAN(nn.Module):
    def __init__(self, spec):
        super().__init__()
        # The generator is the autoencoder's decoder (its crop of the transposed convolutions included).
        self.generator = Decoder(spec.contract.inputs[0].shape[1], spec.part("generator").output.shape[1:])
        channels, height, width = spec.part("discriminator").contract.inputs[0].shape[1:]  # (1, 28, 28)
        self.discriminator = nn.Sequential(
            OrderedDict(
                [
                    ("pad1", nn.ZeroPad2d((0, 1, 0, 1))),  # TensorFlow's 'same' at stride 2: 0 before, 1 after
                    ("conv1", nn.Conv2d(channels, 16, 3, stride=2)),  # -> 16x14x14
                    ("leaky1", nn.LeakyReLU(0.2)),  # PyTorch's default slope is 0.01, Keras 3's 0.3
                    ("pad2", nn.ZeroPad2d((0, 1, 0, 1))),
                    ("conv2", nn.Conv2d(16, 32, 3, stride=2)),  # -> 32x7x7
                    ("leaky2", nn.LeakyReLU(0.2)),
                    ("flatten", nn.Flatten()),  # C, H, W order: the port reorders real's rows
                    ("real", nn.Linear((height // 4) * (width // 4) * 32, 1)),  # 7x7x32
                    ("sigmoid", nn.Sigmoid()),  # kept inside, as in Keras: both losses take probabilities
                ]
            )
        )

    def forward(self, noise):
        return self.discriminator(self.generator(noise))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.gan.SPEC)."""
    return keras_like_init(GAN(spec))


def adversarial_update(net, d_optimizer, g_optimizer):
    """One step of each network on a batch of real images and a batch of noise; returns a function
    of (real, noise) giving the two losses before their steps."""
    generator, discriminator = net.generator, net.discriminator
    bce = nn.BCELoss()  # on probabilities (Keras: BinaryCrossentropy())

    def step(real, noise):
        real, noise = torch.from_numpy(real), torch.from_numpy(noise)
        # The discriminator learns to say 1 for real digits and 0 for generated ones; detach():
        # this step must not reach the generator's weights.
        fake = generator(noise)
        real_p, fake_p = discriminator(real), discriminator(fake.detach())
        d_loss = bce(real_p, torch.ones_like(real_p)) + bce(fake_p, torch.zeros_like(fake_p))
        d_optimizer.zero_grad()
        d_loss.backward()
        d_optimizer.step()
        # The generator learns to make the (just updated) discriminator say 1 for its images.
        fake_p = discriminator(generator(noise))
        g_loss = bce(fake_p, torch.ones_like(fake_p))
        g_optimizer.zero_grad()  # also clears what this loss leaves in the discriminator's grads
        g_loss.backward()
        g_optimizer.step()
        return d_loss.item(), g_loss.item()

    # Keras's images are channels-last; PyTorch's convolutions want channels first.
    return lambda real, noise: step(np.ascontiguousarray(real.transpose(0, 3, 1, 2)), noise)


def train(net, spec, data, *, epochs: int, checkpoint, show_progress: bool = True) -> dict:
    """The alternating updates over `data`'s real images, in the loop both twins share
    (xdl.models.gan.train_loop). Ends with the last epoch's weights (a GAN has no validation loss
    to choose an epoch by)."""
    update = adversarial_update(net, make_optimizer(net.discriminator.parameters(), spec.recipe),
                                make_optimizer(net.generator.parameters(), spec.recipe))
    net.train()
    history = train_loop(spec, data, update, framework="torch", epochs=epochs, show_progress=show_progress)
    net.eval()
    save_weights(net, checkpoint)
    return history


def train_steps(net, spec, batches, optimizer: str, lr: float) -> list[float]:
    """Training parity: per (noise, real images) batch, the discriminator's step then the
    generator's; returns each step's two losses summed (one number a step, as other models give:
    it differs between the twins where either loss does)."""
    def make(params):
        return torch.optim.SGD(params, lr=lr) if optimizer == "sgd" else make_optimizer(
            params, dataclasses.replace(spec.recipe, lr=lr))

    update = adversarial_update(net, make(net.discriminator.parameters()), make(net.generator.parameters()))
    return [sum(update(real, noise)) for noise, real in batches]
