"""autoencoder in Keras 3. Read it next to torch.py: same layers, same order, same names."""

import keras
from keras import layers


def build(spec):
    """Returns the Keras twin of `spec` (xdl.spec.zoo.autoencoder.SPEC): encoder then decoder,
    each a model of its own, so either can be used (and exported) alone."""
    code = spec.part("encoder").output.shape[1]  # 16
    encoder = keras.Sequential(
        [
            keras.Input(shape=spec.contract.inputs[0].channels_last_shape, name="x"),  # (28, 28, 1)
            # stride 2 with 'same': 28 -> 14 -> 7. TensorFlow pads such a convolution one pixel
            # more at the bottom/right than the top/left; torch.py reproduces that exactly.
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv1"),  # 14x14x16
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="conv2"),  # 7x7x32
            layers.Flatten(name="flatten"),  # H, W, C order (PyTorch: C, H, W)
            layers.Dense(code, name="code"),  # linear: a code may be any real vector
        ],
        name="encoder",
    )
    return keras.Sequential([encoder, decoder(code, spec.output.channels_last_shape)], name=spec.name)


def decoder(code: int, image: tuple[int, int, int], name: str = "decoder", input_name: str = "code"):
    """Codes of `code` numbers -> images in [0, 1] of the channels-last `image` shape (28, 28, 1);
    the gan's generator is this network too."""
    height, width, channels = image
    grid = (height // 4, width // 4)  # what two stride-2 steps grow to the image: 7x7
    return keras.Sequential(
        [
            keras.Input(shape=(code,), name=input_name),
            layers.Dense(grid[0] * grid[1] * 32, activation="relu", name="dense"),
            layers.Reshape((*grid, 32), name="reshape"),  # fills H, W, C (channels last)
            # A transposed convolution spreads each input pixel over a 3x3 patch, two pixels
            # apart: it undoes a stride-2 convolution's shapes (7 -> 14 -> 28).
            layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu", name="deconv1"),
            layers.Conv2DTranspose(channels, 3, strides=2, padding="same", activation="sigmoid", name="deconv2"),
        ],
        name=name,
    )
