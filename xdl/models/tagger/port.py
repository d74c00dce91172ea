"""tagger's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import BidirectionalLSTM, Dense, Embedding, Rule

TABLE = [
    Rule("embedding", "embedding", Embedding()),
    # Keras [forward kernel, recurrent, bias, backward kernel, recurrent, bias] <->
    # PyTorch *_l0 and *_l0_reverse, each direction as lstm's LSTM transform.
    Rule("bilstm", "bilstm", BidirectionalLSTM()),
    Rule("dense", "dense", Dense()),  # acts per token in both
]

TAPS = [
    ("embedding", "model.embedding", None),
    ("bilstm", "model.bilstm", None),  # every step, both directions: (batch, length, 64)
    ("dense", "softmax", None),
]
