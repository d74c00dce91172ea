"""mlp in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.mlp.SPEC); it outputs probabilities."""
    return keras.Sequential(
        [
            # Keras images are channels-last: (28, 28, 1). With one channel, Flatten gives the
            # same order as PyTorch's (1, 28, 28), so the first Dense needs no reordering.
            keras.Input(shape=spec.contract.inputs[0].channels_last_shape, name="x"),
            layers.Flatten(name="flatten"),
            layers.Dense(512, activation="relu", name="dense1"),
            layers.Dropout(0.5, name="dropout"),  # active in fit(), a no-op in inference
            # Keras style: softmax inside the model, loss on probabilities.
            layers.Dense(spec.num_classes, activation="softmax", name="dense2"),
        ],
        name=spec.name,
    )
