"""Data sets: the embedded ones are deterministic and sane; the real loaders read the real
formats (tested on small files written here in those formats) and refuse what they must."""

import pickle

import numpy as np
import pytest

from xdl import data
from xdl.data import shapes
from xdl.errors import InputError


def test_digits_is_mnist_shaped():
    d = data.load("digits")
    assert d.x_train.shape[1:] == (28, 28, 1) and d.x_train.dtype == np.float32
    assert len(d.x_train) + len(d.x_test) == 1797
    assert 0.0 <= d.x_train.min() and d.x_train.max() <= 1.0
    assert not d.x_train[:, :4].any() and not d.x_train[:, 24:].any()  # MNIST-like empty border
    assert sorted(set(d.y_test.tolist())) == list(range(10))  # stratified: every class tested
    np.testing.assert_array_equal(d.x_test, data.load("digits").x_test)


def test_shapes_is_deterministic_balanced_and_in_range():
    x1, y1 = shapes.generate(200, seed=3)
    x2, y2 = shapes.generate(200, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, shapes.generate(200, seed=4)[0])
    assert x1.shape == (200, 32, 32, 3) and x1.dtype == np.float32
    assert 0.0 <= x1.min() and x1.max() <= 1.0
    assert np.bincount(y1).tolist() == [20] * 10


def test_validation_split_comes_from_the_end_of_training():
    whole = data.load("shapes")
    split = data.load("shapes", validation_split=0.1)
    assert len(split.x_val) == len(whole.x_train) // 10
    np.testing.assert_array_equal(split.x_val, whole.x_train[-len(split.x_val):])
    np.testing.assert_array_equal(split.x_train, whole.x_train[: len(split.x_train)])


def test_unknown_data_set():
    with pytest.raises(InputError, match="known data sets: " + ", ".join(data.names())):
        data.load("imagenet")


def _fake_mnist(path, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), np.uint8),
             y_train=rng.integers(0, 10, n_train, np.uint8),
             x_test=rng.integers(0, 256, (n_test, 28, 28), np.uint8),
             y_test=np.arange(n_test, dtype=np.uint8))


def test_mnist_loader_reads_the_keras_format(tmp_path):
    _fake_mnist(tmp_path / "mnist.npz")
    d = data.load("mnist", data_dir=tmp_path)
    assert d.x_train.shape == (12, 28, 28, 1) and d.x_test.shape == (5, 28, 28, 1)
    assert d.x_train.dtype == np.float32 and d.x_train.max() <= 1.0
    assert d.y_test.tolist() == [0, 1, 2, 3, 4] and d.y_test.dtype == np.int64


def test_mnist_absent_says_so(tmp_path):
    with pytest.raises(InputError, match="not available offline.*--data-dir"):
        data.load("mnist", data_dir=tmp_path)


def test_mnist_malformed(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="not a valid mnist.npz"):
        data.load("mnist", data_dir=tmp_path)
    np.savez(tmp_path / "mnist.npz", x_train=np.zeros((2, 5, 5), np.uint8), y_train=np.zeros(2),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1))
    with pytest.raises(InputError, match=r"expected \(N, 28, 28\)"):
        data.load("mnist", data_dir=tmp_path)


def _cifar_batches(rng, n):
    images = rng.integers(0, 256, (n, 3072), np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    return images, labels


def _write_cifar_python(root, batches):
    root.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, (images, labels) in zip(names, batches):
        # The real files were pickled by Python 2: bytes keys, protocol 2.
        with open(root / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": images}, f, protocol=2)


def _write_cifar_binary(root, batches):
    root.mkdir(parents=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name, (images, labels) in zip(names, batches):
        rows = np.concatenate([np.array(labels, np.uint8)[:, None], images], axis=1)
        rows.tofile(root / name)


def test_cifar10_python_and_binary_formats_agree(tmp_path):
    rng = np.random.default_rng(1)
    batches = [_cifar_batches(rng, 4) for _ in range(6)]
    _write_cifar_python(tmp_path / "py" / "cifar-10-batches-py", batches)
    _write_cifar_binary(tmp_path / "bin" / "cifar-10-batches-bin", batches)
    a = data.load("cifar10", data_dir=tmp_path / "py")
    b = data.load("cifar10", data_dir=tmp_path / "bin")
    assert a.x_train.shape == (20, 32, 32, 3) and a.x_test.shape == (4, 32, 32, 3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    # channel-major rows: the first 1,024 bytes are the red plane
    images, _ = batches[0]
    np.testing.assert_allclose(a.x_train[0, :, :, 0].ravel(), images[0, :1024] / 255.0, rtol=1e-6)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_cifar10_refuses_a_pickle_that_runs_code(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    rng = np.random.default_rng(2)
    _write_cifar_python(root, [_cifar_batches(rng, 2) for _ in range(6)])
    with open(root / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(InputError, match="refusing to load"):
        data.load("cifar10", data_dir=tmp_path)


def test_cifar10_incomplete(tmp_path):
    (tmp_path / "cifar-10-batches-bin").mkdir()
    with pytest.raises(InputError, match="lacks data_batch_1.bin"):
        data.load("cifar10", data_dir=tmp_path)
