"""recommender's port table: every layer is a lookup table stored identically in both."""

from xdl.port.engine import Embedding, Rule

TABLE = [
    Rule("user_embedding", "user_embedding", Embedding()),
    Rule("item_embedding", "item_embedding", Embedding()),
    Rule("user_bias", "user_bias", Embedding()),
    Rule("item_bias", "item_bias", Embedding()),
    Rule("global_bias", "global_bias", Embedding()),  # one number, no layout to convert
]

TAPS = [
    ("user_embedding", "model.user_embedding", None),
    ("item_embedding", "model.item_embedding", None),
    ("global_bias", "model.global_bias", None),
]
