"""textcnn in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from torch import nn

from xdl.backends.torch import keras_like_init


class TextCNN(nn.Module):
    def __init__(self, spec):
        super().__init__()
        vocabulary = int(spec.contract.inputs[0].domain[1])
        self.embedding = nn.Embedding(vocabulary, 64)
        # PyTorch's Conv1d wants (batch, channels, time); Keras's Conv1D takes (batch, time,
        # channels). padding=3 on both sides is what Keras's 'same' does for an odd kernel of 7.
        self.conv1 = nn.Conv1d(64, 32, 7, padding=3)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool1d(4)
        self.conv2 = nn.Conv1d(32, 32, 7, padding=3)
        self.relu2 = nn.ReLU()
        self.dense = nn.Linear(32, 1)  # a logit; the sigmoid is in BCEWithLogitsLoss / at export

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)  # (batch, 500, 64) -> (batch, 64, 500)
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.relu2(self.conv2(x))
        x = x.mean(dim=2)  # GlobalAveragePooling1D: the mean over time
        return self.dense(x)


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.textcnn.SPEC); it outputs a logit."""
    return keras_like_init(TextCNN(spec))
