"""cifar10: the real CIFAR-10, read from the Keras cache (python batches) or the binary batches.

The python version of CIFAR-10 is a set of pickles. Unpickling runs code, so the batches are
read with xdl.data's ArraysOnlyUnpickler, which admits only numpy array reconstruction.
"""

import pickle

import numpy as np

from xdl.data import ArraysOnlyUnpickler, class_ids, find_file
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
        labels = class_ids(batch[b"labels"], f"{path}: labels")
    except (pickle.UnpicklingError, KeyError, TypeError, EOFError, ValueError) as exc:
        raise InputError(f"{path} is not a CIFAR-10 python batch ({exc}); extract it again")
    return data, labels


def _rows_of(read, paths, rows):
    """The training rows `rows` picks from five batch files, read file by file."""
    if read is _binary_batch:
        counts = [p.stat().st_size // 3073 for p in paths]
    else:  # a pickle's length is known once it is decoded; decode each once and keep its rows
        batches = [read(p) for p in paths]
        counts = [len(d) for d, _ in batches]
    keep, first, parts = rows(sum(counts)), 0, []
    for i, (path, count) in enumerate(zip(paths, counts)):
        mine = keep[(keep >= first) & (keep < first + count)] - first
        parts.append(_binary_batch(path, mine) if read is _binary_batch else tuple(a[mine] for a in batches[i]))
        first += count
    return parts


def _binary_batch(path, keep=None):
    """A binary batch's rows: 3,073 bytes each, one label byte then 3,072 pixel bytes. The file is
    memory-mapped, so only the rows `keep` names (all when None) are read from disk."""
    size = path.stat().st_size
    if size == 0 or size % 3073:
        raise InputError(f"{path} is not a CIFAR-10 binary batch (size {size}); extract it again")
    rows = np.memmap(path, np.uint8, mode="r", shape=(size // 3073, 3073))
    rows = np.array(rows if keep is None else rows[keep])  # copies out of the map: the file can close
    return rows[:, 1:], rows[:, 0].astype(np.int64)


def _files(root):
    if root.name.endswith("-py"):
        return _python_batch, [f"data_batch_{i}" for i in range(1, 6)], "test_batch"
    return _binary_batch, [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin"


def load(data_dir=None, seed=0, rows=None, test=True):
    """The four arrays; with `rows` (xdl.data.Rows), only those training rows (binary batches are
    read row by row from disk; a python batch is one pickle, decoded whole, its other rows
    dropped before they become float images), and with test=False no test rows."""
    root = find_file("cifar10", data_dir, ["cifar-10-batches-py", "cifar-10-batches-bin"], _HOW)
    read, train_files, test_file = _files(root)
    missing = [n for n in [*train_files, test_file] if not (root / n).is_file()]
    if missing:
        raise InputError(f"{root} lacks {', '.join(missing)}; extract the full archive there")
    if rows is None:
        train = [read(root / n) for n in train_files]
    else:
        train = _rows_of(read, [root / n for n in train_files], rows)
    x_test, y_test = read(root / test_file) if test else (np.zeros((0, 3072), np.uint8), np.zeros(0, np.int64))

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
