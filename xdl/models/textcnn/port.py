"""textcnn's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import Conv1D, Dense, Embedding, Rule

TABLE = [
    Rule("embedding", "embedding", Embedding()),  # the same (vocabulary, 64) table
    Rule("conv1", "conv1", Conv1D()),  # (k, in, out) <-> (out, in, k)
    Rule("conv2", "conv2", Conv1D()),
    Rule("dense", "dense", Dense()),
]

# (Keras layer, PyTorch module in the inference model, Keras layout): "NWC" activations are
# (batch, time, channels) in Keras and (batch, channels, time) in PyTorch.
TAPS = [
    ("embedding", "model.embedding", None),  # both (batch, time, 64): PyTorch transposes after
    ("conv1", "model.relu1", "NWC"),
    ("pool1", "model.pool1", "NWC"),
    ("conv2", "model.relu2", "NWC"),
    ("dense", "sigmoid", None),
]
