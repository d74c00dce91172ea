"""transfer in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from collections import OrderedDict

from torch import nn

from xdl.backends.torch import keras_like_init


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.transfer.SPEC); it outputs logits."""

    def bn(channels):  # Keras's eps 1e-3; Keras's momentum 0.9 is PyTorch's 0.1 (resnet says why 0.9)
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.1)

    model = nn.Sequential(
        OrderedDict(
            [
                # stride 1 'same' with a 3x3 kernel: one pixel on every side, as Keras pads
                ("conv1", nn.Conv2d(spec.contract.inputs[0].shape[1], 32, 3, padding=1, bias=False)),
                ("bn1", bn(32)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(32, 64, 3, padding=1, bias=False)),
                ("bn2", bn(64)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
                ("conv3", nn.Conv2d(64, 64, 3, padding=1, bias=False)),
                ("bn3", bn(64)),
                ("relu3", nn.ReLU()),
                ("gap", nn.AdaptiveAvgPool2d(1)),
                ("flatten", nn.Flatten()),
                ("head", nn.Linear(64, spec.num_classes)),  # logits; softmax added at export
            ]
        )
    )
    return keras_like_init(model)
