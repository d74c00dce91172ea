"""Data sets: embedded offline defaults and loaders for the real ones, all returning numpy.

Every loader returns images channels-last (N, H, W, C) as float32 in [0, 1] and labels as int64,
the layout the files on disk use. The PyTorch side transposes at its own boundary, so both
frameworks see exactly the same samples, split and normalisation.
"""

from __future__ import annotations

import importlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xdl.errors import InputError, first_line

# name -> (module or "module:function" returning the arrays, one line for humans)
_LOADERS = {
    "digits": ("xdl.data.digits", "embedded: scikit-learn's 1,797 real handwritten digits at 28x28"),
    "shapes": ("xdl.data.shapes", "embedded: procedurally drawn 32x32 colour shapes, 10 classes"),
    "shapes-a": ("xdl.data.shapes:load_first_half", "embedded: shapes' first five classes (a transfer source task)"),
    "shapes-b": ("xdl.data.shapes:load_second_half", "embedded: shapes' last five classes, relabelled 0-4 (a transfer target)"),
    "mnist": ("xdl.data.mnist", "real: MNIST from a local mnist.npz (Keras cache format)"),
    "cifar10": ("xdl.data.cifar10", "real: CIFAR-10 from a local cifar-10-batches-py/ or -bin/"),
    "sentiment": ("xdl.data.sentiment", "embedded: generated movie reviews whose labels need word order, 500 tokens"),
    "mnist1d": ("xdl.data.mnist1d", "embedded: MNIST-1D, 1-D digit sequences of length 40, generated locally"),
    "entities": ("xdl.data.entities", "embedded: generated sentences tagged with CoNLL-2003's entity tags"),
    "conll": ("xdl.data.conll", "real: named entities from local CoNLL-2003-format train.txt / test.txt"),
    "ratings": ("xdl.data.ratings", "embedded: generated low-rank ratings, 943 users x 1,682 items, 1..5 stars"),
    "movielens": ("xdl.data.movielens", "real: MovieLens-100k from a local u.data"),
    "imdb": ("xdl.data.imdb", "real: IMDB reviews from a local imdb.npz (Keras cache format), top 10,000 words"),
}


@dataclass
class Dataset:
    """A split data set; the validation part is carved from the end of the training part."""

    name: str
    source: str  # where the samples came from, for the manifest and the logs
    num_classes: int
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def subset(self, train: int | None = None, test: int | None = None) -> Dataset:
        """Returns the first `train` training and `test` test samples (a --quick run)."""
        val = None if train is None else max(1, train // 8)
        return Dataset(
            self.name,
            self.source + f" (subset: {train} train, {test} test)",
            self.num_classes,
            self.x_train[:train],
            self.y_train[:train],
            self.x_val[:val],
            self.y_val[:val],
            self.x_test[:test],
            self.y_test[:test],
        )


def names() -> list[str]:
    """Returns the names of every known data set."""
    return list(_LOADERS)


def describe(name: str) -> str:
    """Returns the one-line description of a data set."""
    return _LOADERS[name][1]


def load(
    name: str, *, data_dir: str | Path | None = None, seed: int = 0, validation_split: float = 0.0
) -> Dataset:
    """Loads a data set by name.

    Args:
        name: one of names().
        data_dir: where a real data set's files are; defaults to the Keras cache
            (~/.keras/datasets). Embedded data sets ignore it.
        seed: seeds generation (shapes) and the train/test split (digits).
        validation_split: fraction of the training set held out as validation, taken from its
            end exactly as Keras's `fit(validation_split=...)` does.

    Raises:
        InputError: unknown name, or a real data set whose files are absent or malformed.
    """
    if name not in _LOADERS:
        raise InputError(f"unknown data set {name!r}; known data sets: {', '.join(_LOADERS)}")
    module_name, _, function = _LOADERS[name][0].partition(":")
    loader = getattr(importlib.import_module(module_name), function or "load")
    where = data_dir or keras_cache_dir()
    try:
        x_train, y_train, x_test, y_test, source = loader(data_dir=Path(data_dir) if data_dir else None, seed=seed)
    except InputError:
        raise
    except Exception as exc:  # a malformed real file: wrong encoding, a folder for a file, bad numbers
        raise InputError(f"data set {name!r} could not be read from {where} ({type(exc).__name__}: {first_line(exc)}); "
                         f"fetch its files again") from None
    for split, x, y in (("training", x_train, y_train), ("test", x_test, y_test)):
        problem = _problem(x, y)
        if problem:
            raise InputError(f"data set {name!r} ({source}): its {split} split {problem}; fix or fetch the files again")
    n_val = int(round(len(x_train) * validation_split))
    cut = len(x_train) - n_val
    return Dataset(
        name=name,
        source=source,
        num_classes=int(max(y_train.max(), y_test.max())) + 1,  # meaningful for labels only
        x_train=x_train[:cut],
        y_train=y_train[:cut],
        x_val=x_train[cut:],
        y_val=y_train[cut:],
        x_test=x_test,
        y_test=y_test,
    )


def _problem(x, y) -> str | None:
    """What makes a split unusable, or None: no samples, counts that differ, NaN/Inf, negative labels."""
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray) or x.ndim < 2:
        return "is not an array of samples"
    if len(x) == 0:
        return "holds no samples"
    if len(x) != len(y):
        return f"has {len(x)} samples and {len(y)} labels"
    for what, a in (("samples", x), ("labels", y)):
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            return f"has NaN or Inf in its {what} ({int((~np.isfinite(a)).sum())} values)"
        if a.dtype.kind not in "fiub":
            return f"has {what} of type {a.dtype}, not numbers"
    if y.dtype.kind in "iu" and y.min() < 0:
        return f"has negative labels ({int(y.min())})"
    return None


def keras_cache_dir() -> Path:
    """The folder where keras.datasets keeps downloaded files."""
    return Path.home() / ".keras" / "datasets"


def find_file(name: str, data_dir: Path | None, candidates: list[str], how_to_get: str) -> Path:
    """Returns the first existing candidate path under data_dir or the Keras cache.

    Raises:
        InputError: none exists; the message names where it looked and how to get the data.
    """
    roots = [data_dir] if data_dir else [keras_cache_dir()]
    for root in roots:
        for candidate in candidates:
            path = root / candidate
            if path.exists():
                return path
    looked = ", ".join(str(root / c) for root in roots for c in candidates)
    raise InputError(
        f"data set {name!r} is not available offline: looked for {looked}; {how_to_get}, "
        f"or pass --data-dir"
    )


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and the lists, dicts and numbers pickle builds itself) and
    nothing else. Unpickling runs code; data sets that ship as pickles (CIFAR-10's python
    batches, imdb.npz's object arrays) are read with this, so a tampered file is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3's protocol-2 pickles spell bytes; a pure function
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)
