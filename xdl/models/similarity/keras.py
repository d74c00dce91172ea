"""similarity in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


# Registered so that Keras can rebuild the model from its config (see recommender's GlobalBias).
@keras.saving.register_keras_serializable(package="xdl")
class AbsoluteDifference(layers.Layer):
    """|a - b|, feature by feature: how far apart the two encodings are, whichever comes first.
    Keras has Subtract but no absolute value layer."""

    def call(self, inputs):
        a, b = inputs
        return keras.ops.abs(a - b)


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.similarity.SPEC); it outputs P(same meaning)."""
    a_spec, b_spec = spec.contract.inputs
    vocabulary = int(a_spec.domain[1])
    # The encoder is one model, called twice below: both sentences go through the same layers
    # and so the same weights (a siamese network). Its length is open (None).
    encoder = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int64", name="tokens"),
            layers.Embedding(vocabulary, 32, name="embedding"),  # -> (time, 32)
            # A kernel of 3 sees "not very good" at once; 'same' pads one id on each side.
            layers.Conv1D(64, 3, padding="same", activation="relu", name="conv"),  # -> (time, 64)
            layers.GlobalMaxPooling1D(name="pool"),  # the strongest match of each filter -> 64
            # One more layer so that the encoder itself can combine its filters: "good" and "not
            # bad" fire different ones, and should end as the same encoding.
            layers.Dense(32, activation="relu", name="project"),  # -> 32
        ],
        name="encoder",
    )
    a = keras.Input(shape=(None,), dtype=a_spec.dtype, name=a_spec.name)
    b = keras.Input(shape=(None,), dtype=b_spec.dtype, name=b_spec.name)
    ea, eb = encoder(a), encoder(b)
    # Symmetric features: swapping the sentences gives the same probability.
    features = layers.Concatenate(name="features")(
        [AbsoluteDifference(name="difference")([ea, eb]), layers.Multiply(name="product")([ea, eb])])  # -> 64
    hidden = layers.Dense(32, activation="relu", name="hidden")(features)
    prob = layers.Dense(1, activation="sigmoid", name="dense")(hidden)
    return keras.Model([a, b], prob, name=spec.name)
