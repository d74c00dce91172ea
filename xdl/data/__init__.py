"""Data sets: embedded offline defaults and loaders for the real ones, all returning numpy.

Every loader returns images channels-last (N, H, W, C) as float32 in [0, 1] and labels as int64,
the layout the files on disk use. The PyTorch side transposes at its own boundary, so both
frameworks see exactly the same samples, split and normalisation.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xdl.errors import InputError, XdlError, first_line, missing_extra

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
    "paraphrases": ("xdl.data.paraphrases", "embedded: generated sentence pairs, same meaning or a near miss, 16 tokens each"),
    "cartpole": ("xdl.data.cartpole", "embedded: states of gymnasium's CartPole-v1 under a random policy (dqn's test vectors)"),
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


@dataclass(frozen=True)
class Shard:
    """Worker `rank` of `count` in a distributed run, and the training rows it owns: rank, rank +
    count, rank + 2 count... of the training split, floor(n / count) of them, so that every worker
    takes the same number of steps. These are the rows torch's DistributedSampler(shuffle=False,
    drop_last=True) gives the same rank (tests/distributed/test_distributed.py holds the two equal); each
    worker then shuffles its own rows every epoch. The validation rows (the training split's end)
    are read by every worker, so that all make the same early-stopping decisions; the test split
    only by rank 0, which scores and saves the run."""

    rank: int
    count: int

    def rows(self, n: int) -> np.ndarray:
        return np.arange(self.rank, n - n % self.count, self.count)


class Rows:
    """What a loader reads of a training split of n rows: a shard's rows and the validation rows,
    in ascending order (loaders that can read part of a file take it; see load())."""

    def __init__(self, shard: Shard, validation_split: float):
        self.shard, self.validation_split = shard, validation_split
        self.n = self.cut = None

    def __call__(self, n: int) -> np.ndarray:
        self.n = n
        self.cut = n - int(round(n * self.validation_split))
        return np.concatenate([self.shard.rows(self.cut), np.arange(self.cut, n)])


def names() -> list[str]:
    """Returns the names of every known data set."""
    return list(_LOADERS)


def describe(name: str) -> str:
    """Returns the one-line description of a data set."""
    return _LOADERS[name][1]


def load(
    name: str, *, data_dir: str | Path | None = None, seed: int = 0, validation_split: float = 0.0,
    shard: Shard | None = None,
) -> Dataset:
    """Loads a data set by name.

    Args:
        name: one of names().
        data_dir: where a real data set's files are; defaults to the Keras cache
            (~/.keras/datasets). Embedded data sets ignore it.
        seed: seeds generation (shapes) and the train/test split (digits).
        validation_split: fraction of the training set held out as validation, taken from its
            end exactly as Keras's `fit(validation_split=...)` does.
        shard: one worker's part of a distributed run (see Shard). Loaders that take `rows`
            (mnist, cifar10's binary batches) read only those rows from disk; the others read
            the file and keep those rows before turning them into arrays (imdb.npz stores
            reviews as one pickled object array, CoNLL's vocabulary counts the whole file).

    Raises:
        InputError: unknown name, or a real data set whose files are absent or malformed.
    """
    if name not in _LOADERS:
        raise InputError(f"unknown data set {name!r}; known data sets: {', '.join(_LOADERS)}")
    module_name, _, function = _LOADERS[name][0].partition(":")
    loader = getattr(importlib.import_module(module_name), function or "load")
    rows = Rows(shard, validation_split) if shard else None
    try:
        x_train, y_train, x_test, y_test, source = _read(loader, data_dir, seed, rows,
                                                         embedded=_LOADERS[name][1].startswith("embedded:"))
    except XdlError:  # a missing file (2), or a missing extra such as scikit-learn (3): said already
        raise
    except Exception as exc:  # a malformed real file: wrong encoding, a folder for a file, bad numbers
        missing = missing_extra(exc)
        if missing:  # a loader's optional package, imported without require()
            raise missing from None
        where = data_dir or keras_cache_dir()
        raise InputError(f"data set {name!r} could not be read from {where} ({type(exc).__name__}: {first_line(exc)}); "
                         f"fetch its files again") from None
    for split, x, y in (("training", x_train, y_train), ("test", x_test, y_test)):
        problem = _problem(x, y) if len(x) or not (shard and shard.rank) else None  # rank > 0 reads no test rows
        if problem:
            raise InputError(f"data set {name!r} ({source}): its {split} split {problem}; fix or fetch the files again")
    if rows is not None:
        if rows.n is None:
            raise InputError(f"data set {name!r}: its loader did not read a shard; report this as a bug")
        cut = len(rows.shard.rows(rows.cut))  # x_train holds the shard's rows, then the validation rows
        source += f" (worker {shard.rank} of {shard.count}: {cut} of {rows.cut} training rows)"
    else:
        cut = len(x_train) - int(round(len(x_train) * validation_split))
    return Dataset(
        name=name,
        source=source,
        num_classes=int(max(y.max() for y in (y_train, y_test) if len(y))) + 1,  # meaningful for labels only
        x_train=x_train[:cut],
        y_train=y_train[:cut],
        x_val=x_train[cut:],
        y_val=y_train[cut:],
        x_test=x_test,
        y_test=y_test,
    )


def _read(loader, data_dir, seed: int, rows: Rows | None, embedded: bool = False):
    """The loader's arrays; with `rows`, only a shard's training rows (and no test rows but on rank
    0), read that way by loaders that take `rows`, cut after reading for the others."""
    partial = rows is not None and "rows" in inspect.signature(loader).parameters
    if partial:
        x_train, y_train, x_test, y_test, source = loader(
            data_dir=Path(data_dir) if data_dir else None, seed=seed, rows=rows, test=rows.shard.rank == 0)
    elif embedded:  # made from the seed alone: once per process, copied out
        x_train, y_train, x_test, y_test, source = _embedded(loader, seed)
        x_train, y_train, x_test, y_test = (a.copy() for a in (x_train, y_train, x_test, y_test))
    else:
        x_train, y_train, x_test, y_test, source = loader(data_dir=Path(data_dir) if data_dir else None, seed=seed)
    if rows is not None and not partial:
        keep = rows(len(x_train))
        x_train, y_train = x_train[keep], y_train[keep]
        if rows.shard.rank:
            x_test, y_test = x_test[:0], y_test[:0]
    return x_train, y_train, x_test, y_test, source


@functools.lru_cache(maxsize=4)
def _embedded(loader, seed: int):
    """An embedded data set's arrays, generated once per process for each seed: a training run and
    its export (and a test session's many runs) load the same set several times, and generating
    shapes or MNIST-1D takes seconds. Callers get copies (_read), so none can change another's."""
    return loader(data_dir=None, seed=seed)


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


def class_ids(y, where: str, what: str = "label") -> np.ndarray:
    """Class labels (or token ids: `what`) read from a data set's file, as int64. A cast alone
    would truncate 1.5 to 1 and train on labels nobody wrote: each must be a whole number.

    Raises:
        InputError: a value that is not a whole number, or not a number at all.
    """
    y = np.asarray(y)
    if y.dtype.kind == "O":  # a pickled list of numbers
        try:
            y = np.asarray(y.tolist())
        except ValueError:
            pass
    if y.dtype.kind in "iub":
        return y.astype(np.int64)
    if y.dtype.kind != "f":
        raise InputError(f"{where}: {what}s of type {y.dtype}, not whole numbers; fix the file or fetch it again")
    whole = np.isfinite(y) & (y == np.floor(y)) & (np.abs(y) < 2.0**53)
    if not whole.all():
        bad = y[~whole]
        raise InputError(f"{where}: {bad.size} {what}(s) not whole numbers (the first: {float(bad.flat[0])!r}); "
                         f"{what}s are integers: fix the file or fetch it again")
    return y.astype(np.int64)


def read_npy_rows(archive, member: str, rows=None) -> np.ndarray:
    """Rows of one numeric .npy member of an open zipfile.ZipFile (an .npz), reading from disk
    only what `rows` keeps: `rows(n)` gets the member's length and returns ascending row indices
    (all rows when None). The member is streamed in blocks; a block with no kept row is skipped
    unread where the member is stored uncompressed, and decompressed and dropped where not."""
    with archive.open(f"{member}.npy") as f:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject or fortran or not shape:
            raise ValueError(f"{member} is not a C-ordered numeric array")
        row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        start = f.tell()
        keep = np.arange(shape[0]) if rows is None else np.asarray(rows(shape[0]), np.int64)
        out = np.empty((len(keep), *shape[1:]), dtype)
        block = max(1, (4 << 20) // max(row, 1))  # 4 MiB of rows at a time
        done = 0
        for first in range(0, shape[0], block):
            wanted = keep[(keep >= first) & (keep < first + block)]
            if not len(wanted):
                continue
            f.seek(start + first * row)
            count = min(block, shape[0] - first)
            data = f.read(count * row)
            if len(data) != count * row:
                raise ValueError(f"{member} ends early")
            chunk = np.frombuffer(data, dtype).reshape(count, *shape[1:])
            out[done : done + len(wanted)] = chunk[wanted - first]
            done += len(wanted)
    return out


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
