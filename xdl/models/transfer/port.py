"""transfer's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import BatchNorm, Conv2D, Dense, Rule

TABLE = [
    Rule("conv1", "conv1", Conv2D(bias=False)),
    Rule("bn1", "bn1", BatchNorm()),
    Rule("conv2", "conv2", Conv2D(bias=False)),
    Rule("bn2", "bn2", BatchNorm()),
    Rule("conv3", "conv3", Conv2D(bias=False)),
    Rule("bn3", "bn3", BatchNorm()),
    Rule("head", "head", Dense()),
]

TAPS = [
    ("relu1", "model.relu1", "NHWC"),
    ("pool2", "model.pool2", "NHWC"),
    ("relu3", "model.relu3", "NHWC"),
    ("gap", "model.flatten", None),
    ("head", "softmax", None),
]
