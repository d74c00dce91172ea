"""resnet in Keras 3. Read it next to torch.py: same layers, same order, same names.

A residual block computes relu(F(x) + shortcut(x)): the convolutions learn only what to add
to their input, and the identity path carries the signal (and its gradient) past them, which
is what lets very deep networks train.
"""

import keras
from keras import layers

# epsilon is Keras's default (PyTorch's is 1e-5). momentum 0.9, not Keras's 0.99: the moving
# statistics must catch up within the few hundred steps of a short run (see torch.py).
BN = dict(epsilon=1e-3, momentum=0.9)


def _conv_bn(x, filters, kernel, stride, name, relu=True):
    # No conv bias: the BatchNorm right after subtracts the mean, which would cancel it.
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(**BN, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def residual_block(x, filters, stride, name):
    y = _conv_bn(x, filters, 3, stride, f"{name}a")
    y = _conv_bn(y, filters, 3, 1, f"{name}b", relu=False)
    if stride == 1 and x.shape[-1] == filters:
        shortcut = x  # identity shortcut: the shapes already match
    else:
        # projection shortcut: a strided 1x1 convolution to the new shape
        shortcut = _conv_bn(x, filters, 1, stride, f"{name}p", relu=False)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.ReLU(name=f"{name}_out")(y)


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.resnet.SPEC); it outputs probabilities."""
    inputs = keras.Input(shape=spec.contract.inputs[0].channels_last_shape, name="x")  # (32, 32, 3)
    x = _conv_bn(inputs, 8, 3, 1, "stem")  # -> 32x32x8
    x = residual_block(x, 8, 1, "block1")  # identity shortcut -> 32x32x8
    x = residual_block(x, 16, 2, "block2")  # projection -> 16x16x16
    x = residual_block(x, 32, 2, "block3")  # projection -> 8x8x32
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(spec.num_classes, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs, name=spec.name)
