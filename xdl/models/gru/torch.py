"""gru in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from torch import nn

from xdl.backends.torch import keras_like_init


class GRUClassifier(nn.Module):
    def __init__(self, spec):
        super().__init__()
        # Gates stored r, z, n (reset, update, new): Keras's z and r blocks swapped.
        self.gru = nn.GRU(spec.contract.inputs[0].shape[-1], 64, batch_first=True)
        self.dense = nn.Linear(64, spec.num_classes)  # logits; softmax added at export

    def forward(self, x):
        _, h = self.gru(x)  # h: (layers, batch, 64), the last step's state
        return self.dense(h[-1])


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.gru.SPEC); it outputs logits."""
    return keras_like_init(GRUClassifier(spec))
