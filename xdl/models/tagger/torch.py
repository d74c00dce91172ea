"""tagger in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from torch import nn

from xdl.backends.torch import keras_like_init


class Tagger(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.embedding = nn.Embedding(int(spec.contract.inputs[0].domain[1]), 32)
        # bidirectional=True: the "_reverse" weights read right to left; outputs concatenated
        # forward first, as Keras's Bidirectional(merge_mode="concat") does.
        self.bilstm = nn.LSTM(32, 32, batch_first=True, bidirectional=True)
        self.dense = nn.Linear(64, spec.num_classes)  # per-token logits; softmax added at export

    def forward(self, tokens):
        outputs, _ = self.bilstm(self.embedding(tokens))  # (batch, length, 64)
        return self.dense(outputs)  # Linear acts on the last axis: each token alone


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.tagger.SPEC); it outputs logits."""
    model = keras_like_init(Tagger(spec))
    # As in the lstm model: Keras has one bias per direction, PyTorch two; the second is frozen.
    for name in ("bias_hh_l0", "bias_hh_l0_reverse"):
        getattr(model.bilstm, name).requires_grad_(False)
    return model
