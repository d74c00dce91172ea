"""recommender in PyTorch. Read it next to keras.py: same layers, same order, same names."""

import torch
from torch import nn

from xdl.backends.torch import keras_like_init


class GlobalBias(nn.Module):
    """One trainable number added to every prediction (Keras twin: the same custom layer)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.full((1,), 3.5))

    def forward(self, x):
        return x + self.weight


class Recommender(nn.Module):
    def __init__(self, spec):
        super().__init__()
        user_spec, item_spec = spec.contract.inputs
        users, items = int(user_spec.domain[1]), int(item_spec.domain[1])
        self.user_embedding = nn.Embedding(users, 16)
        self.item_embedding = nn.Embedding(items, 16)
        self.user_bias = nn.Embedding(users, 1)
        self.item_bias = nn.Embedding(items, 1)
        self.global_bias = GlobalBias()

    def forward(self, user, item):  # two inputs, in the contract's order
        u, i = self.user_embedding(user), self.item_embedding(item)
        dot = (u * i).sum(dim=1, keepdim=True)  # Keras: layers.Dot(axes=1)
        return self.global_bias(dot + self.user_bias(user) + self.item_bias(item))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.recommender.SPEC); it outputs a rating."""
    return keras_like_init(Recommender(spec))
