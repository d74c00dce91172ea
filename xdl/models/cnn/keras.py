"""cnn in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.cnn.SPEC); it outputs probabilities."""
    return keras.Sequential(
        [
            keras.Input(shape=spec.contract.inputs[0].channels_last_shape, name="x"),  # (32, 32, 3)
            # Conv2D kernels are stored HWIO (3, 3, in, out); PyTorch's are OIHW.
            layers.Conv2D(32, 3, activation="relu", name="conv1"),  # -> 30x30x32
            layers.MaxPooling2D(2, name="pool1"),  # -> 15x15x32
            layers.Conv2D(64, 3, activation="relu", name="conv2"),  # -> 13x13x64
            layers.MaxPooling2D(2, name="pool2"),  # -> 6x6x64
            layers.Conv2D(64, 3, activation="relu", name="conv3"),  # -> 4x4x64
            # Flattens in H, W, C order; PyTorch flattens C, H, W. Same 1,024 numbers, another
            # order, which is why porting weights must permute dense1's rows.
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dense(spec.num_classes, activation="softmax", name="dense2"),
        ],
        name=spec.name,
    )
