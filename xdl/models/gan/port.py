"""gan's port table: the generator's layers are the autoencoder decoder's, the discriminator's
the autoencoder encoder's kinds."""

from xdl.port.engine import Conv2D, Conv2DTranspose, Dense, DenseAfterFlatten, Rule

TABLE = [
    Rule("dense", "generator.dense", Dense()),  # PyTorch reshapes channels-last too: no reorder
    Rule("deconv1", "generator.deconv1", Conv2DTranspose()),
    Rule("deconv2", "generator.deconv2", Conv2DTranspose()),
    Rule("conv1", "discriminator.conv1", Conv2D()),
    Rule("conv2", "discriminator.conv2", Conv2D()),
    Rule("real", "discriminator.real", DenseAfterFlatten(h=7, w=7, c=32)),  # HWC rows -> CHW rows
]

TAPS = [
    ("generator", "model.generator", "NHWC"),  # the generated images
    ("discriminator", "model.discriminator", None),  # P(real)
]
