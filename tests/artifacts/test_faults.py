"""Faults: whatever stops a writer (Ctrl-C, a crash, SIGKILL, a second writer), what is on disk is
a whole old version or a whole new one, and a reader never finds the folder missing.

In-process cases interrupt `artifacts.write` at every file-system step in turn; subprocess cases
SIGKILL real `xdl train`, `xdl export` and `xdl verify --output` runs at many moments.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import COMMITTED, ROOT
from xdl import artifacts
from xdl.errors import XdlError


def _tag(folder: Path):
    """Which version a folder holds (None: the old one), after checking it is whole."""
    return artifacts.load(folder).manifest.extra.get("tag")


def _write_new(folder: Path, source: Path, tag: str):
    old = artifacts.load(source)
    return artifacts.write(folder, model=old.model_bytes, inputs=list(old.inputs.items()),
                           outputs=list(old.outputs.items()), weights=source / "model.safetensors",
                           manifest={k: v for k, v in {**old.manifest.to_dict(), "tag": tag}.items() if k != "files"})


class _Interrupt:
    """Raises KeyboardInterrupt on the k-th call of any wrapped function."""

    def __init__(self, k):
        self.k, self.calls = k, 0

    def wrap(self, fn):
        def wrapped(*args, **kwargs):
            self.calls += 1
            if self.calls == self.k:
                raise KeyboardInterrupt
            return fn(*args, **kwargs)
        return wrapped


def test_write_interrupted_at_every_step_leaves_old_or_new(tmp_path, monkeypatch):
    source = COMMITTED / "mlp" / "torch"
    folder = tmp_path / "mlp" / "torch"
    seen = set()
    for k in range(1, 200):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(source, folder)
        fault = _Interrupt(k)
        with monkeypatch.context() as m:
            for owner, name in ((os, "rename"), (artifacts, "_exchange"), (shutil, "rmtree"), (shutil, "copyfile"),
                                (Path, "write_bytes"), (Path, "write_text"), (Path, "mkdir"), (artifacts, "sha256_file")):
                m.setattr(owner, name, fault.wrap(getattr(owner, name)))
            try:
                _write_new(folder, source, "new")
                finished = True
            except KeyboardInterrupt:
                finished = False
        seen.add(_tag(folder))  # raises if the folder is missing or not whole
        if finished:
            break
    assert finished and seen == {None, "new"}, seen
    assert k > 10  # the write has many steps, and each was interrupted once


_WRITER = """
import sys
from pathlib import Path
sys.path[:0] = {tests!r}
from test_faults import _write_new
for i in range(12):
    _write_new(Path({folder!r}), Path({source!r}), "writer{who}-" + str(i))
"""


def test_concurrent_writers_and_a_reader(tmp_path):
    source = COMMITTED / "mlp" / "torch"
    folder = tmp_path / "mlp" / "torch"
    shutil.copytree(source, folder)
    tests = [str(Path(__file__).parent), str(ROOT / "tests")]  # test_faults, and the conftest it imports
    writers = [subprocess.Popen([sys.executable, "-c", _WRITER.format(tests=tests, folder=str(folder),
                                                                      source=str(source), who=w)], cwd=ROOT,
                                stderr=subprocess.PIPE, text=True) for w in (1, 2)]
    reads, tags = 0, set()
    while any(w.poll() is None for w in writers):
        tags.add(_tag(folder))  # never missing, never half-written
        reads += 1
    for w in writers:
        assert w.wait() == 0, w.stderr.read()
    assert reads > 0 and {_tag(folder)} <= {"writer1-11", "writer2-11"}
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name]


def _xdl(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "xdl", *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kwargs)


def _kill_after(args, delay):
    p = _xdl(*args)
    time.sleep(delay)  # the moment sampled, not a wait for readiness: any moment must leave old or new
    p.send_signal(signal.SIGKILL)
    return p.wait()


def _moments(args, fractions=(0.05, 0.8, 0.9, 0.95, 1.05)) -> list[float]:
    """Moments to kill `xdl ARGS` at, as fractions of how long it takes here and now (it is run to
    the end once, timed): on a loaded machine fixed delays all fall into the imports, and the
    moments that matter (writing, publishing) are never sampled. The first part of a run is
    imports, where nothing is written: one early moment stands for it, the rest sample the end,
    where the writing is. `args` must write somewhere of its own."""
    start = time.monotonic()
    assert _xdl(*args).wait() == 0
    took = time.monotonic() - start
    return [f * took for f in fractions]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two different trained mlp/torch runs (old and new) and the old one's export."""
    base = tmp_path_factory.mktemp("faults")
    for name, epochs in (("old", 1), ("new", 2)):
        r = subprocess.run([sys.executable, "-m", "xdl", "train", "mlp", "--framework", "torch", "--quick",
                            "--epochs", str(epochs), "--runs", base / name], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "xdl", "export", "mlp", "--framework", "torch", "--runs", base / "old",
                        "--out", base / "out"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return base


def _weights_of(run: Path) -> str:
    return json.loads((run / "metrics.json").read_text())["weights_sha256"]


def test_killed_export_leaves_old_or_new(trained):
    folder = trained / "out" / "mlp" / "torch"
    old, new = _weights_of(trained / "old" / "mlp" / "torch"), _weights_of(trained / "new" / "mlp" / "torch")
    seen = set()
    export = ["export", "mlp", "--framework", "torch", "--runs", trained / "new", "--out"]
    for delay in _moments([*export, trained / "timed"]):
        _kill_after([*export, trained / "out"], delay)
        manifest = artifacts.load(folder).manifest  # whole, hashes checked
        assert manifest.weights_sha256 in (old, new)
        seen.add(manifest.weights_sha256)
    assert old in seen  # the earliest moment comes before any write: the sampling starts at the start
    r = subprocess.run([sys.executable, "-m", "xdl", "export", "mlp", "--framework", "torch", "--runs", trained / "new",
                        "--out", trained / "out"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert artifacts.load(folder).manifest.weights_sha256 == new
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_killed_train_leaves_no_half_run(trained):
    runs = trained / "killed"
    for delay in _moments(["train", "mlp", "--framework", "torch", "--quick", "--runs", trained / "timed-train"]):
        _kill_after(["train", "mlp", "--framework", "torch", "--quick", "--runs", runs], delay)
        run = runs / "mlp" / "torch"
        if run.exists():  # a published run is whole: its metrics describe its weights
            assert _weights_of(run) == artifacts.sha256_file(run / "model.safetensors")


def test_killed_verify_leaves_no_half_report(tmp_path):
    report = tmp_path / "report.json"
    verify = ["verify", "exported_models/mlp", "--providers", "cpu", "--report", "json", "--output"]
    for delay in _moments([*verify, tmp_path / "timed-report.json"]):
        _kill_after([*verify, report], delay)
        if report.exists():
            assert "checks" in json.loads(report.read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_ctrl_c_ends_an_endless_model_promptly(tmp_path):
    """A Loop that never ends, with a long time limit: Ctrl-C still ends the run at once. Sent when
    the endless run has started (its marker), not after a fixed sleep that a loaded machine outlasts."""
    from test_environment import endless_model, observed, wait_for

    p, marks = observed(tmp_path, endless_model(tmp_path))
    wait_for(marks, "model_run", p)
    start = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, out + err
    assert time.monotonic() - start < 10
    assert "interrupted" in err and "Traceback" not in err


def test_a_failed_publish_puts_the_old_version_back(tmp_path, monkeypatch):
    """Where the atomic exchange is unavailable, the fallback's second rename failing must not
    lose the old folder."""
    folder = tmp_path / "mlp" / "torch"
    shutil.copytree(COMMITTED / "mlp" / "torch", folder)
    monkeypatch.setattr(artifacts, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename(src, dst):
        if ".tmp-" in str(src):
            raise OSError(28, "No space left on device")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError):
        _write_new(folder, COMMITTED / "mlp" / "torch", "new")
    assert _tag(folder) is None


def test_export_refuses_weights_that_metrics_do_not_describe(trained, tmp_path):
    run = tmp_path / "runs" / "mlp" / "torch"
    shutil.copytree(trained / "old" / "mlp" / "torch", run)
    shutil.copyfile(trained / "new" / "mlp" / "torch" / "model.safetensors", run / "model.safetensors")
    from xdl import exporting

    with pytest.raises(XdlError, match="is not the file metrics.json describes"):
        exporting.export("mlp", "torch", runs=tmp_path / "runs", out=tmp_path / "out")
    assert not (tmp_path / "out" / "mlp" / "torch").exists()
