"""lstm in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from torch import nn

from xdl.backends.torch import keras_like_init


class LSTMClassifier(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.embedding = nn.Embedding(int(spec.contract.inputs[0].domain[1]), 32)
        # batch_first: (batch, time, features) like Keras; PyTorch's default is time first.
        self.lstm = nn.LSTM(32, 32, batch_first=True)
        self.dense = nn.Linear(32, 1)  # a logit; the sigmoid is in BCEWithLogitsLoss / at export

    def forward(self, tokens):
        _, (h, _) = self.lstm(self.embedding(tokens))  # h: (layers, batch, 32), the last step's state
        return self.dense(h[-1])


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.lstm.SPEC); it outputs a logit."""
    model = keras_like_init(LSTMClassifier(spec))
    # PyTorch's LSTM adds two bias vectors (bias_ih + bias_hh) where Keras has one. Only their
    # sum matters; freezing bias_hh at zero makes the twins the same parametrisation, with the
    # same number of trainable parameters and the same gradient steps.
    model.lstm.bias_hh_l0.requires_grad_(False)
    return model
