"""Shared fixtures: quick-trained, exported twins, each made once per session when a test first
asks for it (`quick(model[, framework])`), and shared by every pytest-xdist worker."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# One thread per pytest-xdist worker (`.ci/run` starts one per core): set before PyTorch or
# TensorFlow is imported, here and in the commands the tests start (they inherit the environment).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

from xdl.spec import registry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "exported_models"
PAIRS = [(m, f) for m in registry.names() for f in registry.FRAMEWORKS]
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    """A test that asks for quick-trained twins is `slow`; one under tests/distributed/ is `distributed`."""
    for item in items:
        if "quick" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if (TESTS / "distributed") in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.distributed)


@dataclass(frozen=True)
class Made:
    """What `quick(...)` returns: the session's runs and artifacts folders, and the metrics.json of
    every (model, framework) made so far."""

    runs: Path
    out: Path
    metrics: dict


class Quick:
    """Twins trained (quick mode) into runs/ and exported into exported_models/, one (model,
    framework) at a time as tests ask for them: `quick("mlp", "torch")` makes one, `quick("mlp")`
    both; either returns a `Made` (`.runs`, `.out`, `.metrics[model, framework]`).

    The folders are shared by the whole session, pytest-xdist workers included: a file lock per
    pair makes sure each is trained and exported once, by whichever worker asks first. A test
    reads them and never writes into them (a private copy: `artifact_copy`, or shutil.copytree).
    """

    def __init__(self, base: Path):
        self._made = Made(base / "runs", base / "exported_models", {})
        self._locks = base / "locks"
        self._locks.mkdir(parents=True, exist_ok=True)

    def __call__(self, model: str, framework: str | None = None) -> Made:
        for fw in (framework,) if framework else registry.FRAMEWORKS:
            if (model, fw) not in self._made.metrics:
                self._make(model, fw)
        return self._made

    def __getattr__(self, name):
        if name in ("runs", "out", "metrics"):  # the fixture trained every twin up front until issue 27
            raise AttributeError(f"quick.{name}: write quick(model[, framework]).{name} (it makes what is asked)")
        raise AttributeError(name)

    def _make(self, model: str, framework: str) -> None:
        from filelock import FileLock

        from xdl import exporting, training

        runs, out = self._made.runs, self._made.out
        done = self._locks / f"{model}-{framework}.done"
        with FileLock(self._locks / f"{model}-{framework}.lock"):
            if not done.exists():
                shutil.rmtree(training.run_dir(runs, model, framework), ignore_errors=True)  # a failed attempt's
                training.train(model, framework, quick=True, runs=runs, show_progress=False)
                exporting.export(model, framework, runs=runs, out=out)
                done.touch()
        self._made.metrics[model, framework] = json.loads(
            (training.run_dir(runs, model, framework) / "metrics.json").read_text())


@pytest.fixture(scope="session")
def quick(tmp_path_factory) -> Quick:
    """The session's `Quick`: call it with the model (and framework) a test needs."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is a folder of the run's own
        base = base.parent
    return Quick(base / "quick")


@pytest.fixture
def artifact_copy(quick, tmp_path):
    """A private copy of one quick artifact folder that a test may damage."""

    def copy(model="mlp", framework="torch") -> Path:
        dst = tmp_path / model / framework
        shutil.copytree(quick(model, framework).out / model / framework, dst)
        return dst

    return copy


def linear_net(zero=False):
    """A seeded torch Linear(8, 3), the smallest user model; `zero`: every output 0 (a reference
    without signal)."""
    import torch

    torch.manual_seed(0)
    net = torch.nn.Linear(8, 3)
    if zero:
        torch.nn.init.zeros_(net.weight)
        torch.nn.init.zeros_(net.bias)
    return net
