"""The worked example of docs/twin.md: a Keras CNN and two PyTorch rewrites of it, one with the
stride-2 'same' padding bug that `xdl twin` finds, one fixed.

    xdl twin twin_padding:keras_model twin_padding:torch_buggy --input-shape 2,16,16,3   # exit 1
    xdl twin twin_padding:keras_model twin_padding:torch_fixed --input-shape 2,16,16,3   # exit 0

(run in docs/examples/; tests/project/test_twin_docs.py runs both and checks the page's lines)
"""

import keras
import torch
from torch import nn


def keras_model():
    keras.utils.set_random_seed(0)  # the same weights on every run: the page's numbers come back
    return keras.Sequential([
        keras.Input((16, 16, 3), name="image"),
        keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="down"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, name="logits"),
    ], name="keras_cnn")


class TorchCNN(nn.Module):
    """The rewrite. `fixed=False` is the first draft: padding=1 on the stride-2 convolution, which
    gives the right output shape (8x8) and the wrong numbers. `relu1=False` forgets conv1's ReLU."""

    def __init__(self, fixed: bool, relu1: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = nn.ReLU() if relu1 else nn.Identity()
        # Keras's 'same' at stride 2 on an even size pads 0 before and 1 after
        self.pad = nn.ZeroPad2d((0, 1, 0, 1)) if fixed else nn.Identity()
        self.down = nn.Conv2d(8, 16, 3, stride=2, padding=0 if fixed else 1)
        self.act2 = nn.ReLU()
        self.logits = nn.Linear(16 * 8 * 8, 10)

    def forward(self, x):
        x = self.act1(self.conv1(x))
        x = self.act2(self.down(self.pad(x)))
        return self.logits(torch.flatten(x, 1))


def torch_buggy():
    return TorchCNN(fixed=False)


def torch_fixed():
    return TorchCNN(fixed=True)


def torch_without_relu():
    return TorchCNN(fixed=True, relu1=False)
