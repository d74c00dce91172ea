"""Shared fixtures: one quick train + export of every (model, framework), reused by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from xdl.spec import registry

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "exported_models"
PAIRS = [(m, f) for m in registry.names() for f in registry.FRAMEWORKS]


@pytest.fixture(scope="session")
def quick(tmp_path_factory):
    """Trains (quick mode) and exports every model in both frameworks once per test session.

    Returns a namespace with `runs`, `out` and `metrics[(model, framework)]`.
    """
    from xdl import exporting, training

    base = tmp_path_factory.mktemp("quick")
    runs, out = base / "runs", base / "exported_models"
    metrics = {}
    for model, framework in PAIRS:
        metrics[model, framework] = training.train(model, framework, quick=True, runs=runs, show_progress=False)
        exporting.export(model, framework, runs=runs, out=out)

    class Quick:
        pass

    q = Quick()
    q.runs, q.out, q.metrics = runs, out, metrics
    return q


@pytest.fixture
def artifact_copy(quick, tmp_path):
    """A private copy of one quick artifact folder that a test may damage."""

    def copy(model="mlp", framework="torch") -> Path:
        dst = tmp_path / model / framework
        shutil.copytree(quick.out / model / framework, dst)
        return dst

    return copy
