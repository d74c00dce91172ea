"""xdl twin on the first Dense after a Flatten: the order PyTorch flattens in (C, H, W through
nn.Flatten or x.view after a functional pooling; H, W, C after a permute) is read from the run,
not guessed, so both rewrites of one Keras model are one network with it."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")

pytestmark = pytest.mark.timeout(300)


def _keras():
    import keras

    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                             keras.layers.MaxPooling2D(2, name="pool"), keras.layers.Flatten(name="flat"),
                             keras.layers.Dense(5, name="fc")], name="kflat")


def _torch(permute: bool):
    import torch.nn.functional as F
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(36, 5)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv(x)), 2)  # no module: the pooling leaves no record
            x = x.permute(0, 2, 3, 1) if permute else x  # channels last first, as Keras flattens
            return self.fc(x.reshape(len(x), -1))

    return Net()


@pytest.mark.parametrize("permute, how", [(False, "name, flatten order seen"), (True, "name")])
def test_the_flatten_order_is_read_from_the_run(permute, how):
    import xdl

    x = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    report = xdl.twin(_keras(), _torch(permute), x)
    assert report.exit_code == 0, report.render()
    assert [(r.keras, r.how) for r in report.layers] == [("conv", "name"), ("fc", how)]


def test_a_convolution_that_does_not_read_the_input_leaves_it_in_keras_s_layout():
    import keras
    from torch import nn

    import xdl

    keras_model = keras.Sequential([keras.Input((10, 8)), keras.layers.LSTM(8, return_sequences=True, name="lstm"),
                                    keras.layers.Conv1D(4, 3, name="conv"),
                                    keras.layers.GlobalAveragePooling1D(name="gap")], name="kseq")

    class Net(nn.Module):  # its Conv1d reads 8 channels, as many as the input has, but after the LSTM
        def __init__(self):
            super().__init__()
            self.conv, self.lstm = nn.Conv1d(8, 4, 3), nn.LSTM(8, 8, batch_first=True)

        def forward(self, x):
            h, _ = self.lstm(x)
            return self.conv(h.transpose(1, 2)).mean(-1)

    x = np.random.default_rng(0).uniform(-1, 1, (2, 10, 8)).astype(np.float32)
    report = xdl.twin(keras_model, Net(), x)
    assert report.exit_code == 0, report.render()
    assert report.inputs[0].startswith("input_0: Keras declares (None, 10, 8); [2, 10, 8] to both (PyTorch fails on "
                                       "them channels first: ")
