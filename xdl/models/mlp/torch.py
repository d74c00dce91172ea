"""mlp in PyTorch. Read it next to keras.py: same layers, same order, same names."""

import math
from collections import OrderedDict

from torch import nn

from xdl.backends.torch import keras_like_init


def build(spec):
    """Returns the PyTorch twin of `spec` (xdl.spec.zoo.mlp.SPEC); it outputs logits."""
    model = nn.Sequential(
        OrderedDict(
            [
                # PyTorch images are channels-first: (1, 28, 28). Flatten gives 784 features.
                ("flatten", nn.Flatten()),
                ("dense1", nn.Linear(math.prod(spec.contract.inputs[0].shape[1:]), 512)),
                ("relu1", nn.ReLU()),  # Keras folds the activation into Dense(activation=...)
                ("dropout", nn.Dropout(0.5)),  # active in train(), a no-op after eval()
                # PyTorch style: logits out, softmax lives in CrossEntropyLoss for training and
                # is appended for inference/export (xdl.backends.torch.deployable).
                ("dense2", nn.Linear(512, spec.num_classes)),
            ]
        )
    )
    return keras_like_init(model)
