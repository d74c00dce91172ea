"""lstm in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.lstm.SPEC); it outputs P(positive)."""
    tokens = spec.contract.inputs[0]
    return keras.Sequential(
        [
            keras.Input(shape=tokens.channels_last_shape, dtype=tokens.dtype, name=tokens.name),  # (None,)
            layers.Embedding(int(tokens.domain[1]), 32, name="embedding"),
            # Four gates per step: forget (what to drop from the cell), input (what to write),
            # candidate (the tanh proposal) and output (what to show); weights kept as
            # kernel (32, 4*32), recurrent_kernel (32, 4*32) and one bias (4*32), gates i, f, c, o.
            # Only the last step's output goes on; the reviews are pre-padded so it is the
            # review's end, not padding.
            layers.LSTM(32, name="lstm"),
            layers.Dense(1, activation="sigmoid", name="dense"),
        ],
        name=spec.name,
    )
