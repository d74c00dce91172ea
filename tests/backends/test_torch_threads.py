"""PyTorch trains xdl's twins on one thread unless OMP_NUM_THREADS chooses (benchmarks/threads.md),
and gives the setting back afterwards."""

import pytest

from xdl import training

torch = pytest.importorskip("torch")
from xdl.backends import torch as torch_backend  # noqa: E402


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_training_runs_on_one_thread_and_gives_the_setting_back(monkeypatch, two_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with torch_backend.training_threads():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_omp_num_threads_chooses_instead(monkeypatch, two_threads):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    with torch_backend.training_threads():
        assert torch.get_num_threads() == 2


class _Seen(Exception):
    """Raised by the stand-in training loop once it has seen the threads: nothing is trained."""


def test_xdl_train_trains_on_one_thread(monkeypatch, tmp_path, two_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = []

    def fit(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise _Seen

    monkeypatch.setattr(torch_backend, "train", fit)
    with pytest.raises(_Seen):
        training.train("mlp", "torch", quick=True, runs=tmp_path, show_progress=False)
    assert seen == [1]
    assert torch.get_num_threads() == 2
