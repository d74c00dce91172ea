"""resnet's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import BatchNorm, Conv2D, Dense, Rule

# Convolutions HWIO <-> OIHW, no biases (BatchNorm follows each); BatchNorm's four arrays map
# one to one (its eps and momentum are set in torch.py, they do not travel with the weights).
TABLE = [
    Rule("stem_conv", "stem.conv", Conv2D(bias=False)),
    Rule("stem_bn", "stem.bn", BatchNorm()),
    Rule("block1a_conv", "block1.a.conv", Conv2D(bias=False)),
    Rule("block1a_bn", "block1.a.bn", BatchNorm()),
    Rule("block1b_conv", "block1.b.conv", Conv2D(bias=False)),
    Rule("block1b_bn", "block1.b.bn", BatchNorm()),
    Rule("block2a_conv", "block2.a.conv", Conv2D(bias=False)),
    Rule("block2a_bn", "block2.a.bn", BatchNorm()),
    Rule("block2b_conv", "block2.b.conv", Conv2D(bias=False)),
    Rule("block2b_bn", "block2.b.bn", BatchNorm()),
    Rule("block2p_conv", "block2.p.conv", Conv2D(bias=False)),
    Rule("block2p_bn", "block2.p.bn", BatchNorm()),
    Rule("block3a_conv", "block3.a.conv", Conv2D(bias=False)),
    Rule("block3a_bn", "block3.a.bn", BatchNorm()),
    Rule("block3b_conv", "block3.b.conv", Conv2D(bias=False)),
    Rule("block3b_bn", "block3.b.bn", BatchNorm()),
    Rule("block3p_conv", "block3.p.conv", Conv2D(bias=False)),
    Rule("block3p_bn", "block3.p.bn", BatchNorm()),
    Rule("dense", "dense", Dense()),
]

TAPS = [
    ("stem_relu", "model.stem.relu", "NHWC"),
    ("block1_out", "model.block1.out", "NHWC"),
    ("block2_out", "model.block2.out", "NHWC"),
    ("block3_out", "model.block3.out", "NHWC"),
    ("gap", "model.flatten", None),
    ("dense", "softmax", None),
]
