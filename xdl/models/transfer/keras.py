"""transfer in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.transfer.SPEC); it outputs probabilities."""
    return keras.Sequential(
        [
            keras.Input(shape=spec.contract.inputs[0].channels_last_shape, name="x"),  # (32, 32, 3)
            layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv1"),
            layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name="bn1"),
            layers.ReLU(name="relu1"),
            layers.MaxPooling2D(2, name="pool1"),  # -> 16x16x32
            layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv2"),
            layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name="bn2"),
            layers.ReLU(name="relu2"),
            layers.MaxPooling2D(2, name="pool2"),  # -> 8x8x64
            # the top of the backbone: thawed for fine-tuning
            layers.Conv2D(64, 3, padding="same", use_bias=False, name="conv3"),
            layers.BatchNormalization(epsilon=1e-3, momentum=0.9, name="bn3"),
            layers.ReLU(name="relu3"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(spec.num_classes, activation="softmax", name="head"),
        ],
        name=spec.name,
    )
