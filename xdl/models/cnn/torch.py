"""cnn in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from collections import OrderedDict

from torch import nn

from xdl.backends.torch import keras_like_init


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.cnn.SPEC); it outputs logits."""
    in_channels, height, width = spec.contract.inputs[0].shape[1:]
    # What reaches the flatten: a 3x3 valid convolution takes 2 pixels off a side, a 2x2 pool halves
    # it; three convolutions with two pools between them make 32x32 into 4x4.
    side = [((((n - 2) // 2) - 2) // 2) - 2 for n in (height, width)]
    model = nn.Sequential(
        OrderedDict(
            [
                # PyTorch needs each layer's input channels spelled out; Keras infers them.
                ("conv1", nn.Conv2d(in_channels, 32, 3)),  # -> 32x30x30
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),  # -> 32x15x15
                ("conv2", nn.Conv2d(32, 64, 3)),  # -> 64x13x13
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),  # -> 64x6x6
                ("conv3", nn.Conv2d(64, 64, 3)),  # -> 64x4x4
                ("relu3", nn.ReLU()),
                ("flatten", nn.Flatten()),  # C, H, W order (Keras: H, W, C)
                ("dense1", nn.Linear(64 * side[0] * side[1], 64)),
                ("relu4", nn.ReLU()),
                ("dense2", nn.Linear(64, spec.num_classes)),  # logits; softmax added at export
            ]
        )
    )
    return keras_like_init(model)
