"""dqn's port table: three Dense layers, each a transpose."""

from xdl.port.engine import Dense, Rule

TABLE = [
    Rule("dense1", "dense1", Dense()),
    Rule("dense2", "dense2", Dense()),
    Rule("q", "q", Dense()),
]

TAPS = [
    ("dense1", "model.relu1", None),
    ("dense2", "model.relu2", None),
    ("q", "none", None),  # the Q-values: no head outside the twin ("none")
]
