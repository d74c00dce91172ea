"""textcnn in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.textcnn.SPEC); it outputs P(positive)."""
    tokens = spec.contract.inputs[0]
    return keras.Sequential(
        [
            keras.Input(shape=tokens.channels_last_shape, dtype=tokens.dtype, name=tokens.name),  # (500,)
            # One learned 64-vector per word id; id 0 (padding) gets a vector too, as in the article.
            layers.Embedding(int(tokens.domain[1]), 64, name="embedding"),  # -> 500x64 (time, channels)
            # 'same' pads 3 each side for a kernel of 7 at stride 1: the length stays 500.
            layers.Conv1D(32, 7, padding="same", activation="relu", name="conv1"),  # -> 500x32
            layers.MaxPooling1D(4, name="pool1"),  # -> 125x32
            layers.Conv1D(32, 7, padding="same", activation="relu", name="conv2"),  # -> 125x32
            layers.GlobalAveragePooling1D(name="gap"),  # mean over time -> 32
            layers.Dense(1, activation="sigmoid", name="dense"),
        ],
        name=spec.name,
    )
