"""resnet in PyTorch. Read it next to keras.py: same layers, same order, same names."""

from collections import OrderedDict

from torch import nn

from xdl.backends.torch import keras_like_init


def _same_padding(kernel: int, stride: int) -> nn.Module:
    """Keras's padding='same' for an even input size.

    With stride 1 it pads (k-1)/2 on every side, which Conv2d(padding=k//2) also does. With
    stride 2 on an even size TensorFlow pads one pixel less at the top and left than at the
    bottom and right (for k=3: 0 before, 1 after). PyTorch's symmetric padding=1 would shift
    every output by one pixel: same shapes, other numbers. So the pad is spelled out.
    """
    total = max(kernel - stride, 0)  # for an even input size divisible by the stride
    return nn.ZeroPad2d((total // 2, total - total // 2, total // 2, total - total // 2))


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride, relu=True):
        layers = OrderedDict(
            pad=_same_padding(kernel, stride),
            conv=nn.Conv2d(cin, cout, kernel, stride, bias=False),
            # PyTorch's momentum weighs the new batch, Keras's the old average: Keras's 0.9 is
            # PyTorch's 0.1. eps is Keras's 1e-3; with PyTorch's default 1e-5 the twins would
            # compute a (slightly) different function from the same weights.
            bn=nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1),
        )
        if relu:
            layers["relu"] = nn.ReLU()
        super().__init__(layers)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = ConvBN(cin, cout, 3, stride)
        self.b = ConvBN(cout, cout, 3, 1, relu=False)
        self.p = None if stride == 1 and cin == cout else ConvBN(cin, cout, 1, stride, relu=False)
        self.out = nn.ReLU()

    def forward(self, x):
        shortcut = x if self.p is None else self.p(x)
        return self.out(self.b(self.a(x)) + shortcut)


class ResNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.stem = ConvBN(spec.contract.inputs[0].shape[1], 8, 3, 1)
        self.block1 = Block(8, 8, 1)
        self.block2 = Block(8, 16, 2)
        self.block3 = Block(16, 32, 2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dense = nn.Linear(32, spec.num_classes)  # logits; softmax added at export

    def forward(self, x):
        x = self.block3(self.block2(self.block1(self.stem(x))))
        return self.dense(self.flatten(self.gap(x)))


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.resnet.SPEC); it outputs logits."""
    return keras_like_init(ResNet(spec))
