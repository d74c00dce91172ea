"""autoencoder in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from collections import OrderedDict

from torch import nn

from xdl.backends.torch import keras_like_init


class Decoder(nn.Module):
    def __init__(self, code: int, image: tuple[int, int, int]):
        """Codes of `code` numbers -> images of the contract's `image` shape (channels, height, width)."""
        super().__init__()
        channels, self.height, self.width = image
        self.grid = (self.height // 4, self.width // 4)  # what two stride-2 steps grow to the image: 7x7
        self.dense = nn.Linear(code, self.grid[0] * self.grid[1] * 32)
        self.relu = nn.ReLU()
        # padding=0 gives (7 - 1) * 2 + 3 = 15 pixels; Keras's 'same' keeps the first 14. PyTorch's
        # padding=1, output_padding=1 also gives 14, but crops one pixel at the top/left
        # instead: the same shape, shifted numbers. So the crop is written out in forward().
        self.deconv1 = nn.ConvTranspose2d(32, 16, 3, stride=2)
        self.relu1 = nn.ReLU()
        self.deconv2 = nn.ConvTranspose2d(16, channels, 3, stride=2)
        self.sigmoid = nn.Sigmoid()

    def forward(self, code):
        x = self.relu(self.dense(code))
        # Keras's Reshape fills (7, 7, 32) channels-last; doing the same and then moving the
        # channels first keeps the Dense's weights portable as they are.
        x = x.view(-1, *self.grid, 32).permute(0, 3, 1, 2)
        x = self.relu1(self.deconv1(x)[:, :, : 2 * self.grid[0], : 2 * self.grid[1]])
        return self.sigmoid(self.deconv2(x)[:, :, : self.height, : self.width])


class Autoencoder(nn.Module):
    def __init__(self, spec):
        super().__init__()
        code = spec.part("encoder").output.shape[1]
        channels, height, width = spec.contract.inputs[0].shape[1:]  # (1, 28, 28)
        self.encoder = nn.Sequential(
            OrderedDict(
                [
                    # TensorFlow's 'same' at stride 2 on an even size: 0 pixels before, 1 after.
                    ("pad1", nn.ZeroPad2d((0, 1, 0, 1))),
                    ("conv1", nn.Conv2d(channels, 16, 3, stride=2)),  # -> 16x14x14
                    ("relu1", nn.ReLU()),
                    ("pad2", nn.ZeroPad2d((0, 1, 0, 1))),
                    ("conv2", nn.Conv2d(16, 32, 3, stride=2)),  # -> 32x7x7
                    ("relu2", nn.ReLU()),
                    ("flatten", nn.Flatten()),  # C, H, W order: the port reorders code's rows
                    ("code", nn.Linear((height // 4) * (width // 4) * 32, code)),  # 7x7x32
                ]
            )
        )
        self.decoder = Decoder(code, spec.output.shape[1:])

    def forward(self, x):
        return self.decoder(self.encoder(x))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.autoencoder.SPEC)."""
    return keras_like_init(Autoencoder(spec))
