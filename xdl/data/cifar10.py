"""cifar10: the real CIFAR-10, read from the Keras cache (python batches) or the binary batches.

The python version of CIFAR-10 is a set of pickles. Unpickling runs code, so the batches are
read with xdl.data's ArraysOnlyUnpickler, which admits only numpy array reconstruction.
"""

import pickle

import numpy as np

from xdl.data import ArraysOnlyUnpickler, find_file
from xdl.errors import InputError

_HOW = (
    "download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (or -binary.tar.gz) and "
    "extract it there"
)
def _python_batch(path):
    try:
        with open(path, "rb") as f:
            batch = ArraysOnlyUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], np.uint8)
        labels = np.asarray(batch[b"labels"], np.int64)
    except (pickle.UnpicklingError, KeyError, TypeError, EOFError, ValueError) as exc:
        raise InputError(f"{path} is not a CIFAR-10 python batch ({exc}); extract it again")
    return data, labels


def _binary_batch(path):
    raw = np.fromfile(path, np.uint8)
    if raw.size == 0 or raw.size % 3073:
        raise InputError(f"{path} is not a CIFAR-10 binary batch (size {raw.size}); extract it again")
    rows = raw.reshape(-1, 3073)  # one label byte, then 3,072 pixel bytes
    return rows[:, 1:], rows[:, 0].astype(np.int64)


def load(data_dir=None, seed=0):
    root = find_file("cifar10", data_dir, ["cifar-10-batches-py", "cifar-10-batches-bin"], _HOW)
    if root.name.endswith("-py"):
        read, train_files, test_file = _python_batch, [f"data_batch_{i}" for i in range(1, 6)], "test_batch"
    else:
        read, train_files, test_file = _binary_batch, [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin"
    missing = [n for n in [*train_files, test_file] if not (root / n).is_file()]
    if missing:
        raise InputError(f"{root} lacks {', '.join(missing)}; extract the full archive there")
    train = [read(root / n) for n in train_files]
    x_test, y_test = read(root / test_file)

    def images(data):
        # Rows are stored channel-major (1,024 red, then green, then blue): CHW -> HWC.
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255.0

    return (
        images(np.concatenate([d for d, _ in train])),
        np.concatenate([lab for _, lab in train]),
        images(x_test),
        y_test,
        f"CIFAR-10 from {root}",
    )
