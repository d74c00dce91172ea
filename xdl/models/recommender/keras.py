"""recommender in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


# Registered so that Keras can rebuild the model from its config (xdl saves weights from an
# uncompiled rebuild; see xdl/backends/keras.py).
@keras.saving.register_keras_serializable(package="xdl")
class GlobalBias(layers.Layer):
    """One trainable number added to every prediction: the mean rating. Keras has no such
    layer; it starts at 3.5, near the mean of real rating logs (MovieLens: 3.53)."""

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(1,), initializer=keras.initializers.Constant(3.5), name="bias")

    def call(self, x):
        return x + self.bias


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.recommender.SPEC); it outputs a rating."""
    user_spec, item_spec = spec.contract.inputs
    user = keras.Input(shape=(), dtype="int64", name=user_spec.name)  # one id per sample
    item = keras.Input(shape=(), dtype="int64", name=item_spec.name)
    users, items = int(user_spec.domain[1]), int(item_spec.domain[1])
    u = layers.Embedding(users, 16, name="user_embedding")(user)  # -> (batch, 16)
    i = layers.Embedding(items, 16, name="item_embedding")(item)
    # Biases as 1-wide embeddings: a per-user and per-item offset (a harsh critic, a hit film).
    bu = layers.Embedding(users, 1, name="user_bias")(user)  # -> (batch, 1)
    bi = layers.Embedding(items, 1, name="item_bias")(item)
    dot = layers.Dot(axes=1, name="dot")([u, i])  # taste match: sum of u * i -> (batch, 1)
    rating = GlobalBias(name="global_bias")(layers.Add(name="add")([dot, bu, bi]))
    return keras.Model([user, item], rating, name=spec.name)
