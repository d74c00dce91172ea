"""mnist: the real MNIST, read from a local mnist.npz in the keras.datasets cache format."""

import zipfile

import numpy as np

from xdl.data import class_ids, find_file, read_npy_rows
from xdl.errors import InputError

_HOW = "download https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz there"


def load(data_dir=None, seed=0, rows=None, test=True):
    """The four arrays; with `rows` (xdl.data.Rows) only those training rows are read from disk,
    and with test=False no test rows (a distributed worker other than rank 0)."""
    path = find_file("mnist", data_dir, ["mnist.npz"], _HOW)
    try:
        # Numeric members read as raw .npy: nothing in a downloaded file is ever unpickled.
        with zipfile.ZipFile(path) as archive:
            arrays = {k: read_npy_rows(archive, k, rows) for k in ("x_train", "y_train")}
            if rows is not None and len(arrays["x_train"]) != len(arrays["y_train"]):
                raise ValueError("x_train and y_train differ in length")
            test_rows = None if test else (lambda n: np.arange(0))
            arrays |= {k: read_npy_rows(archive, k, test_rows) for k in ("x_test", "y_test")}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path} is not a valid mnist.npz ({exc}); delete it and fetch it again")
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise InputError(f"{path}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
        if y.shape != (len(x),):
            raise InputError(f"{path}: {split} split has {len(x)} samples and {y.shape} labels; expected one per sample")

    def images(x):
        return (x.astype(np.float32) / 255.0)[..., None]  # uint8 -> [0, 1], add channel

    return (
        images(arrays["x_train"]),
        class_ids(arrays["y_train"], f"{path}: y_train"),
        images(arrays["x_test"]),
        class_ids(arrays["y_test"], f"{path}: y_test"),
        f"MNIST from {path}",
    )
