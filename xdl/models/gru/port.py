"""gru's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import GRU, Dense, Rule

TABLE = [
    Rule("gru", "gru", GRU()),  # gate blocks z, r, h <-> r, z, n; kernels transposed
    Rule("dense", "dense", Dense()),
]

TAPS = [
    ("gru", "model.gru", "last"),  # Keras returns the last step, PyTorch every step
    ("dense", "softmax", None),
]
