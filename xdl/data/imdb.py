"""imdb: the real IMDB movie reviews, read from the Keras cache file imdb.npz.

keras.datasets.imdb.load_data() downloads imdb.npz and then turns its word ranks into model
inputs; this loader reads the same file offline and makes the same inputs: ranks shifted by 3
(0 pads, 1 starts a review, 2 is an unknown word), words beyond the top 10,000 made unknown,
and sequences pre-padded / pre-truncated to 500 as keras.utils.pad_sequences does.

imdb.npz stores each review as a Python list inside a numpy object array, which numpy can only
load through pickle. It is read with xdl.data's ArraysOnlyUnpickler: a tampered file that
would run code is refused, not executed.
"""

import pickle
import zipfile

import numpy as np

from xdl.data import ArraysOnlyUnpickler, class_ids, find_file
from xdl.data.sentiment import FIRST_WORD, MAX_LENGTH, NUM_WORDS, OOV, START
from xdl.errors import InputError

_HOW = "download https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"


def _read_array(archive: zipfile.ZipFile, name: str, path) -> np.ndarray:
    """One .npy member of the archive; object arrays through the restricted unpickler."""
    with archive.open(f"{name}.npy") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            array = ArraysOnlyUnpickler(f, encoding="latin1").load()
        else:
            array = np.frombuffer(f.read(), dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, its header says {shape}")
    return array


def encode(reviews, max_length: int = MAX_LENGTH, where: str = "imdb") -> np.ndarray:
    """Word ranks -> model inputs, as keras.datasets.imdb.load_data(num_words=10000) + pad_sequences."""
    x = np.zeros((len(reviews), max_length), np.int64)
    for i, ranks in enumerate(reviews):
        ids = np.concatenate([[START], class_ids(ranks, f"{where}: review {i}", "word rank")])
        ids[1:] += FIRST_WORD
        ids[ids >= NUM_WORDS] = OOV
        ids = ids[-max_length:]  # pre-truncation keeps a review's end
        x[i, max_length - len(ids):] = ids  # pre-padding
    return x


def load(data_dir=None, seed=0, rows=None, test=True):
    """The four arrays; with `rows` (xdl.data.Rows) only those training reviews become model
    inputs (the file's object array is one pickle, so it is decoded whole first), and with
    test=False no test rows."""
    path = find_file("imdb", data_dir, ["imdb.npz"], _HOW)
    try:
        with zipfile.ZipFile(path) as archive:
            parts = {k: _read_array(archive, k, path) for k in ("x_train", "y_train", *(("x_test", "y_test") if test else ()))}
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, pickle.UnpicklingError, OSError) as exc:
        raise InputError(f"{path} is not a Keras imdb.npz ({exc}); download it again") from None
    if not test:
        parts |= {"x_test": np.zeros(0, object), "y_test": np.zeros(0, np.int64)}
    for split in ("train", "test"):
        if len(parts[f"x_{split}"]) != len(parts[f"y_{split}"]):
            raise InputError(f"{path}: x_{split} and y_{split} differ in length; download it again")
    if rows is not None:
        keep = rows(len(parts["x_train"]))
        parts["x_train"], parts["y_train"] = parts["x_train"][keep], parts["y_train"][keep]
    return (encode(parts["x_train"], where=f"{path}: x_train"), class_ids(parts["y_train"], f"{path}: y_train"),
            encode(parts["x_test"], where=f"{path}: x_test"),
            class_ids(parts["y_test"], f"{path}: y_test"), f"IMDB reviews from {path}")
