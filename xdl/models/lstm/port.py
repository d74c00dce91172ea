"""lstm's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import LSTM, Dense, Embedding, Rule

TABLE = [
    Rule("embedding", "embedding", Embedding()),
    # kernel/recurrent_kernel transposed; gates in the same order (i, f, c, o) in both;
    # Keras's one bias -> bias_ih, bias_hh stays 0 (frozen there in this twin).
    Rule("lstm", "lstm", LSTM()),
    Rule("dense", "dense", Dense()),
]

TAPS = [
    ("embedding", "model.embedding", None),
    ("lstm", "model.lstm", "last"),  # Keras returns the last step, PyTorch every step
    ("dense", "sigmoid", None),
]
