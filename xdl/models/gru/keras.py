"""gru in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.gru.SPEC); it outputs probabilities."""
    x = spec.contract.inputs[0]
    return keras.Sequential(
        [
            keras.Input(shape=x.channels_last_shape, name=x.name),  # (None, 1): any length
            # Three gate blocks per step, stored z, r, h (update, reset, candidate). Keras 3's
            # default reset_after=True applies the reset gate after the recurrent matmul, as
            # PyTorch does, and keeps two biases (2, 3*64): the input's and the recurrent one's.
            layers.GRU(64, name="gru"),
            layers.Dense(spec.num_classes, activation="softmax", name="dense"),
        ],
        name=spec.name,
    )
