"""cnn's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import Conv2D, Dense, DenseAfterFlatten, Rule

TABLE = [
    Rule("conv1", "conv1", Conv2D()),  # HWIO <-> OIHW
    Rule("conv2", "conv2", Conv2D()),
    Rule("conv3", "conv3", Conv2D()),
    # conv3 leaves a 4x4x64 activation; the two Flattens order it differently (HWC vs CHW).
    Rule("dense1", "dense1", DenseAfterFlatten(h=4, w=4, c=64)),
    Rule("dense2", "dense2", Dense()),
]

# Where the two twins' activations can be compared: (Keras layer, PyTorch module in the
# inference model, how to bring the Keras activation into PyTorch's layout).
TAPS = [
    ("conv1", "model.relu1", "NHWC"),  # Keras applies relu inside Conv2D
    ("pool1", "model.pool1", "NHWC"),
    ("conv2", "model.relu2", "NHWC"),
    ("pool2", "model.pool2", "NHWC"),
    ("conv3", "model.relu3", "NHWC"),
    ("flatten", "model.flatten", (4, 4, 64)),  # a flat HWC vector, reordered to CHW
    ("dense1", "model.relu4", None),
    ("dense2", "softmax", None),
]
