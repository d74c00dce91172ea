"""mlp's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import Dense, Rule

TABLE = [
    # Flatten of (28, 28, 1) and of (1, 28, 28) give the same order (one channel), so the
    # first Dense needs only the transpose every Dense needs, no row permutation.
    Rule("dense1", "dense1", Dense()),
    Rule("dense2", "dense2", Dense()),
]

# Where the two twins' activations can be compared: (Keras layer, PyTorch module in the
# inference model, how to bring the Keras activation into PyTorch's layout).
TAPS = [
    ("flatten", "model.flatten", None),
    ("dense1", "model.relu1", None),  # Keras applies relu inside Dense
    ("dropout", "model.dropout", None),
    ("dense2", "softmax", None),  # Keras applies softmax inside Dense; PyTorch in its head
]
