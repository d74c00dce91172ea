"""similarity's port table: the encoder's layers appear once, however often the encoder is called."""

from xdl.port.engine import Conv1D, Dense, Embedding, Rule

TABLE = [
    Rule("embedding", "encoder.embedding", Embedding()),
    Rule("conv", "encoder.conv", Conv1D()),  # (k, in, out) <-> (out, in, k)
    Rule("project", "encoder.project", Dense()),
    Rule("hidden", "hidden", Dense()),
    Rule("dense", "dense", Dense()),
]

# The encoder's own layers are not tapped: they run twice per pair, and Keras names an output
# only for a layer called once. The head is called once.
TAPS = [
    ("hidden", "model.relu", None),
    ("dense", "sigmoid", None),
]
