"""docs/twin.md's port table: a layer with weights that xdl cannot pair by itself (a PReLU with
one slope per channel), named in a table with a transform of the user's own.

    xdl twin twin_port_table:keras_model twin_port_table:torch_model --input-shape 2,8,8,3   # exit 2
    xdl twin twin_port_table:keras_model twin_port_table:torch_model --input-shape 2,8,8,3 \
        --port-table twin_port_table                                                         # exit 0

(run in docs/examples/; tests/project/test_twin_docs.py runs both and checks the page's lines)
"""

import keras
from torch import nn

from xdl.port.engine import Rule, Transform


class PReLUSlopes(Transform):
    """Keras PReLU(shared_axes=[1, 2]) alpha (1, 1, c) <-> PyTorch PReLU(c) weight (c,)."""

    torch_suffixes = ("weight",)

    def to_torch(self, arrays):
        return [arrays[0].reshape(-1)]

    def to_keras(self, arrays):
        return [arrays[0].reshape(1, 1, -1)]


# The layers the table names; the rest (conv, head) are still paired by call order.
TABLE = [Rule("slopes", "slopes", PReLUSlopes())]


def keras_model():
    keras.utils.set_random_seed(0)  # the same weights on every run: the page's numbers come back
    return keras.Sequential([
        keras.Input((8, 8, 3), name="image"),
        keras.layers.Conv2D(4, 3, name="conv"),
        keras.layers.PReLU(shared_axes=[1, 2], alpha_initializer=keras.initializers.Constant(0.1), name="slopes"),
        keras.layers.GlobalAveragePooling2D(name="pool"),
        keras.layers.Dense(2, name="head"),
    ], name="keras_prelu")


class TorchPReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.slopes = nn.PReLU(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.slopes(self.conv(x)).mean((2, 3)))


def torch_model():
    return TorchPReLU()
