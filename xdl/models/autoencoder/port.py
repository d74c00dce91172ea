"""autoencoder's port table: Keras layer <-> PyTorch module, and why each transform is what it is."""

from xdl.port.engine import Conv2D, Conv2DTranspose, Dense, DenseAfterFlatten, Rule

TABLE = [
    Rule("conv1", "encoder.conv1", Conv2D()),
    Rule("conv2", "encoder.conv2", Conv2D()),
    Rule("code", "encoder.code", DenseAfterFlatten(h=7, w=7, c=32)),  # HWC rows -> CHW rows
    Rule("dense", "decoder.dense", Dense()),  # PyTorch reshapes channels-last too: no reorder
    Rule("deconv1", "decoder.deconv1", Conv2DTranspose()),
    Rule("deconv2", "decoder.deconv2", Conv2DTranspose()),
]

TAPS = [
    ("encoder", "model.encoder", None),  # the codes
    ("decoder", "model.decoder", "NHWC"),  # the reconstructions
]
