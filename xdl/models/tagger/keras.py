"""tagger in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.tagger.SPEC); it outputs a tag distribution
    per token."""
    tokens = spec.contract.inputs[0]
    return keras.Sequential(
        [
            keras.Input(shape=tokens.channels_last_shape, dtype=tokens.dtype, name=tokens.name),  # (None,)
            layers.Embedding(int(tokens.domain[1]), 32, name="embedding"),
            # Two LSTMs, one reading left to right and one right to left; each token's output is
            # both states side by side (32 + 32), so "Jordan" is read knowing "flew to" before
            # it and "said" after it. return_sequences: an output at every step, not the last.
            layers.Bidirectional(layers.LSTM(32, return_sequences=True), name="bilstm"),
            # Dense on a 3-D input applies to each token separately: the same weights everywhere.
            layers.Dense(spec.num_classes, activation="softmax", name="dense"),
        ],
        name=spec.name,
    )
