"""similarity in PyTorch. Read it next to keras.py: same layers, same order, same names."""

import torch
from torch import nn

from xdl.backends.torch import keras_like_init


class Encoder(nn.Module):
    """One sentence -> 32 numbers; the Keras twin's `encoder` Sequential."""

    def __init__(self, vocabulary: int):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, 32)
        # PyTorch's Conv1d wants (batch, channels, time); padding=1 is Keras's 'same' for a kernel of 3.
        self.conv = nn.Conv1d(32, 64, 3, padding=1)
        self.relu = nn.ReLU()
        self.project = nn.Linear(64, 32)
        self.relu_project = nn.ReLU()

    def forward(self, tokens):
        x = self.relu(self.conv(self.embedding(tokens).transpose(1, 2)))
        x = x.amax(dim=2)  # GlobalMaxPooling1D: the maximum over time
        return self.relu_project(self.project(x))


class Similarity(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.encoder = Encoder(int(spec.contract.inputs[0].domain[1]))  # one module, called twice in forward
        self.hidden = nn.Linear(64, 32)
        self.relu = nn.ReLU()
        self.dense = nn.Linear(32, 1)  # a logit; the sigmoid is in BCEWithLogitsLoss / at export

    def forward(self, a, b):  # two inputs, in the contract's order
        ea, eb = self.encoder(a), self.encoder(b)  # the same weights read both sentences
        features = torch.cat([(ea - eb).abs(), ea * eb], dim=1)  # Keras: Concatenate of the two layers
        return self.dense(self.relu(self.hidden(features)))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.similarity.SPEC); it outputs a logit."""
    return keras_like_init(Similarity(spec))
