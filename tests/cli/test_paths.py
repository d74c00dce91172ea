"""Real paths a user names as outputs (issue 26, "data loss"): devices, FIFOs, links and folders
that overlap the command's inputs. A writer never replaces what is not a regular file of its
own: a device, a FIFO or a link is written through (or refused in one line), a full device is
exit 3, and an output that is, holds or lies inside an input is refused before anything is
written.

Devices are made with mknod in tmp_path (root, as CI runs), never the machine's own /dev/null:
a regression would otherwise replace the real one.
"""

import hashlib
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import test_bad_inputs

from conftest import COMMITTED, ROOT
from xdl import artifacts, cli
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, XdlError

xdl_here = test_bad_inputs.xdl_here  # the fixture: port imports PyTorch and TensorFlow, seconds per process


def xdl(*args, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, **kwargs)


def _one_line(r, phrase: str) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    lines = [line for line in r.stderr.splitlines() if phrase in line]
    assert len(lines) == 1 and lines[0].startswith("xdl: error:"), out
    return lines[0]


def _tree(root: Path) -> str:
    """Every file under root, names and bytes: what must not change."""
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        digest.update(str(p.relative_to(root)).encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def committed_untouched():
    before = _tree(COMMITTED)
    yield
    assert _tree(COMMITTED) == before, "a path test changed the committed artifacts"


def _device(tmp_path: Path, name: str, minor: int, kind=stat.S_IFCHR, major: int = 1) -> Path:
    """A copy of /dev/<name> (char 1,minor) in tmp_path."""
    path = tmp_path / name
    try:
        os.mknod(path, kind | 0o666, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("mknod needs root (CI runs as root)")
    return path


def _verify(*extra):
    return ["verify", COMMITTED / "mlp" / "torch", "--providers", "cpu", "--batch-sizes", "1", *extra]


# --- devices, FIFOs and links: written through, never replaced ------------------------------

def test_a_null_device_is_written_through_not_replaced(tmp_path):
    null = _device(tmp_path, "null", 3)
    r = xdl(*_verify("--report", "json", "--output", null))
    assert r.returncode == 0, r.stdout + r.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode), "the device was replaced by a regular file"
    artifacts.write_text(null, "in-process too\n")
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name != "null"], "a temporary file was left beside it"


def test_a_full_device_is_a_full_disk_exit_3(tmp_path):
    full = _device(tmp_path, "full", 7)
    r = xdl(*_verify("--report", "md", "--output", full))
    assert r.returncode == EXIT_ENVIRONMENT, r.stdout + r.stderr
    _one_line(r, "the disk is full")
    assert stat.S_ISCHR(os.lstat(full).st_mode)


def test_ported_weights_to_a_device_are_written_through(tmp_path, xdl_here):
    null = _device(tmp_path, "null", 3)
    r = xdl_here(["port", "mlp", "--from", "torch", "--output", null])
    assert r.returncode == 0, r.stdout + r.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    full = _device(tmp_path, "full", 7)
    r = xdl_here(["port", "mlp", "--from", "keras", "--output", full])
    assert r.returncode == EXIT_ENVIRONMENT, r.stdout + r.stderr
    _one_line(r, "the disk is full")


def test_a_disk_is_refused(tmp_path):
    # major 240 is reserved for local use: no driver behind it, so even a regression opens nothing
    disk = _device(tmp_path, "disk", 0, stat.S_IFBLK, major=240)
    with pytest.raises(XdlError, match="it is a block device"):
        artifacts.write_text(disk, "x")
    assert stat.S_ISBLK(os.lstat(disk).st_mode)


def test_a_folder_is_refused_before_the_run(tmp_path):
    r = xdl("bench", "mlp", "--quick", "--providers", "cpu", "--json", tmp_path)
    assert r.returncode == EXIT_INPUT
    _one_line(r, "it is a folder")
    assert "mlp" not in r.stdout  # refused before anything was benchmarked


def _reader(fifo: Path):
    """Opens the FIFO for reading (without waiting for a writer), then reads until the writer
    closes it; returns (ready, thread, received)."""
    received, ready = [], threading.Event()

    def read():
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        ready.set()
        poll = select.poll()
        poll.register(fd, select.POLLIN)
        try:
            while True:
                # POLLHUP comes only once a writer has opened and closed it: no early EOF
                if not poll.poll(120_000):
                    return
                block = os.read(fd, 1 << 16)
                if not block:
                    return
                received.append(block)
        finally:
            os.close(fd)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return ready, thread, received


def test_a_fifo_with_a_reader_gets_everything(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    ready, thread, received = _reader(fifo)
    assert ready.wait(60)
    text = "".join(f"line {i}\n" for i in range(100_000))  # far more than a pipe holds: the reader is waited on
    artifacts.write_text(fifo, text)
    thread.join(120)
    assert b"".join(received).decode() == text
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_report_to_a_fifo_reaches_its_reader(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    ready, thread, received = _reader(fifo)
    assert ready.wait(60)
    r = xdl(*_verify("--report", "json", "--output", fifo))
    assert r.returncode == 0, r.stdout + r.stderr
    thread.join(120)
    assert json.loads(b"".join(received))["checks"], "the reader got no report"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced by a regular file"


def test_a_fifo_nobody_reads_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = xdl(*_verify("--report", "json", "--output", fifo), timeout=120)
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "no process is reading the FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_stdout_named_as_a_path_gets_the_report_then_the_summary(tmp_path):
    link = tmp_path / "stdout"
    link.symlink_to("/proc/self/fd/1")  # what /dev/stdout is; the machine's own is not put at risk
    for capture in ("pipe", "file"):
        if capture == "pipe":
            r = xdl(*_verify("--report", "json", "--output", link))
            out = r.stdout
        else:  # the shell's `> file`: a second opening of the file would write over the summary
            with open(tmp_path / "out.txt", "w") as f:
                r = subprocess.run([sys.executable, "-m", "xdl", *map(str, _verify("--report", "json", "--output",
                                    link))], stdout=f, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=300)
            out = (tmp_path / "out.txt").read_text()
        assert r.returncode == 0, out + r.stderr
        report, summary = out.split("\n}\n", 1)
        assert json.loads(report + "\n}")["checks"]
        assert "verify: 1 pass" in summary
        assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


def test_a_link_to_a_file_is_written_through(tmp_path):
    target = tmp_path / "reports" / "latest.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    artifacts.write_text(link, "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_a_link_into_an_artifact_is_refused(tmp_path):
    art = tmp_path / "art"
    shutil.copytree(COMMITTED / "mlp" / "torch", art)
    link = tmp_path / "report.json"
    link.symlink_to(art / "manifest.json")
    before = _tree(art)
    r = xdl(*_verify("--report", "json", "--output", link))
    assert r.returncode == EXIT_INPUT
    _one_line(r, "that is inside the artifact")
    assert _tree(art) == before


def test_a_plot_into_an_artifact_is_refused_before_the_run(tmp_path):
    copy = tmp_path / "models"
    shutil.copytree(COMMITTED / "mlp", copy / "mlp")
    before = _tree(copy)
    r = xdl("bench", "mlp", "--quick", "--providers", "cpu", "--out", copy, "--plot", copy / "mlp" / "torch" / "c.png")
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "that is inside the artifact")
    assert _tree(copy) == before


# --- overlapping folders: refused before anything is written ----------------------------------

@pytest.fixture
def models(tmp_path):
    """A copy of the committed mlp artifacts (root/mlp/{keras,torch}) that a test may point at."""
    root = tmp_path / "exported_models"
    shutil.copytree(COMMITTED / "mlp", root / "mlp")
    return root


def _run_from_artifact(artifact: Path, runs: Path, framework: str = "torch") -> Path:
    """A training run (weights + metrics.json, as `xdl train` writes it) made from an artifact's
    own weights and provenance, so that no test has to train."""
    m = json.loads((artifact / "manifest.json").read_text())
    run = runs / m["model"] / framework
    run.mkdir(parents=True)
    weights = next(p for p in artifact.iterdir() if p.name.startswith("model.") and p.name != "model.onnx")
    shutil.copyfile(weights, run / weights.name)
    metrics = {k: m[k] for k in ("dataset", "data_source", "seed", "weights_sha256")}
    (run / "metrics.json").write_text(json.dumps({**metrics, **m["metrics"], "model": m["model"],
                                                  "framework": framework}))
    return run


@pytest.mark.parametrize("runs,out", [("R", "R"), ("R", "R/mlp/torch/inner"), ("O/mlp/torch/x", "O")],
                         ids=["same", "out-inside-the-run", "out-holds-the-run"])
def test_export_refuses_an_out_that_overlaps_its_runs(tmp_path, runs, out):
    run = _run_from_artifact(COMMITTED / "mlp" / "torch", tmp_path / runs)
    before = _tree(tmp_path)
    r = xdl("export", "mlp", "--framework", "torch", "--runs", tmp_path / runs, "--out", tmp_path / out)
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "writing it would replace what this command reads")
    assert _tree(tmp_path) == before and (run / "metrics.json").is_file()


def test_export_refuses_to_replace_a_run_folder(tmp_path):
    """--out pointing at a runs folder: the artifact would replace a training run of the same name."""
    other = _run_from_artifact(COMMITTED / "mlp" / "torch", tmp_path / "other")
    _run_from_artifact(COMMITTED / "mlp" / "torch", tmp_path / "R")
    before = _tree(other.parent.parent)
    r = xdl("export", "mlp", "--framework", "torch", "--runs", tmp_path / "R", "--out", tmp_path / "other")
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "holds files xdl did not write")
    assert _tree(other.parent.parent) == before


@pytest.mark.parametrize("where", ["root", "inside", "holds"])
def test_train_refuses_runs_where_artifacts_live(models, where):
    runs = {"root": models, "inside": models / "mlp" / "torch", "holds": models.parent}[where]
    if where == "holds":  # runs/mlp/torch holds an artifact deeper down
        shutil.copytree(models / "mlp" / "torch", runs / "mlp" / "torch" / "old" / "torch")
    before = _tree(models.parent)
    r = xdl("train", "mlp", "--framework", "torch", "--quick", "--runs", runs)
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "where artifacts live")
    assert _tree(models.parent) == before


def test_train_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    mine = tmp_path / "runs" / "mlp" / "torch" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("my notes")
    r = xdl("train", "mlp", "--framework", "torch", "--quick", "--runs", tmp_path / "runs")
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "holds files xdl did not write")
    assert mine.read_text() == "my notes"


def test_port_refuses_to_write_into_an_artifact(models):
    before = _tree(models)
    r = xdl("port", "mlp", "--from", "torch", "--out", models, "--output", models / "mlp" / "keras" / "model.weights.h5")
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "that is inside the artifact")
    assert _tree(models) == before


def test_port_refuses_to_overwrite_its_source_or_a_runs_own_files(tmp_path, xdl_here):
    run = _run_from_artifact(COMMITTED / "mlp" / "torch", tmp_path / "runs")
    before = _tree(run)
    source = run / "model.safetensors"
    r = xdl_here(["port", "mlp", "--from", "torch", "--weights-file", source, "--output", source])
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "is the source weights file")
    r = xdl_here(["port", "mlp", "--from", "torch", "--weights-file", source, "--output", run / "metrics.json"])
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "is a file of the training run")
    assert _tree(run) == before


def test_tutorials_refuse_an_out_that_is_a_file(tmp_path):
    (tmp_path / "01_first.py").write_text("print('hello')\n")
    before = _tree(tmp_path)
    r = xdl("tutorials", "01", "--dir", tmp_path, "--out", tmp_path / "01_first.py")
    assert r.returncode == EXIT_INPUT, r.stdout + r.stderr
    _one_line(r, "is not a folder")
    assert _tree(tmp_path) == before


def test_site_never_replaces_a_folder_it_did_not_build(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    before = _tree(tmp_path)
    r = xdl("site", "--out", tmp_path)
    assert r.returncode in (EXIT_INPUT, 3), r.stdout + r.stderr  # 3: Sphinx is not installed here
    _one_line(r, "no `xdl site` wrote" if r.returncode == EXIT_INPUT else "pip install")
    assert _tree(tmp_path) == before


def test_overlap_compares_real_paths(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "a")
    for output, given in ((tmp_path / "link" / "b", tmp_path / "a" / "b"),  # a link to the same folder
                          (tmp_path / "link" / "b" / "not" / "yet", tmp_path / "a"),  # not made yet, inside
                          (tmp_path / "a" / ".." / "a", tmp_path / "link" / "b" / "c")):  # holds it
        with pytest.raises(XdlError, match="would replace what this command reads"):
            artifacts.overlap(output, "--out", {"--runs": given})
    artifacts.overlap(tmp_path / "a" / "c", "--out", {"--runs": tmp_path / "a" / "b"})  # siblings are fine


def test_publish_never_replaces_a_link_or_a_file(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep").write_text("keep")
    for kind in ("link", "file"):
        folder = tmp_path / kind
        if kind == "link":
            folder.symlink_to(elsewhere)
        else:
            folder.write_text("a file")
        staged = artifacts.staging(folder)
        (staged / "manifest.json").write_text("{}")
        with pytest.raises(XdlError, match="xdl replaces only folders it wrote"):
            artifacts.publish(staged, folder)
        assert os.path.islink(folder) if kind == "link" else folder.read_text() == "a file"
    assert (elsewhere / "keep").read_text() == "keep"


# --- a full disk while training writes its weights ----------------------------------------------

def test_a_full_disk_during_training_is_exit_3(tmp_path, monkeypatch, capsys):
    pytest.importorskip("torch")
    from safetensors import SafetensorError

    from xdl.backends import torch as torch_backend

    def full(*args, **kwargs):  # the error safetensors raises on ENOSPC, word for word
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(torch_backend, "save_file", full)
    code = cli.main(["train", "mlp", "--framework", "torch", "--quick", "--runs", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == EXIT_ENVIRONMENT, err
    assert "the disk is full" in err and "unexpected" not in err, err
    assert not (tmp_path / "runs" / "mlp" / "torch").exists()  # nothing was published


def test_a_failed_keras_save_leaves_no_half_file(tmp_path, monkeypatch):
    pytest.importorskip("keras")
    from xdl import models
    from xdl.backends import keras as keras_backend
    from xdl.spec import registry

    net = models.build(registry.get("mlp"), "keras")

    def full(self, filepath, *args, **kwargs):  # h5py's failure on ENOSPC, after part of the file
        Path(filepath).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(net), "save_weights", full)
    with pytest.raises(OSError) as caught:
        keras_backend.save_weights(net, tmp_path / "model.weights.h5")
    assert caught.value.errno == 28
    assert not list(tmp_path.iterdir()), "a half-written temporary file was left behind"


def _no_room(monkeypatch):
    import types

    monkeypatch.setattr(os, "statvfs", lambda path: types.SimpleNamespace(f_bavail=0, f_frsize=4096))


def test_a_full_disk_is_found_before_training(tmp_path, monkeypatch, capsys):
    """Before the training, not after it (and, for Keras, before HDF5 meets it: see the next test)."""
    _no_room(monkeypatch)
    code = cli.main(["train", "mlp", "--framework", "torch", "--quick", "--runs", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == EXIT_ENVIRONMENT, out + err
    assert "the disk is full" in err and "epoch" not in out + err, out + err
    assert not (tmp_path / "runs" / "mlp" / "torch").exists()


def test_keras_weights_never_meet_a_full_disk_in_hdf5(tmp_path, monkeypatch):
    """h5py reports a write that fails for want of space, then the process crashes as it exits
    (exit 139, measured on a full tmpfs): a disk without room is refused before HDF5 writes."""
    pytest.importorskip("keras")
    from xdl import models
    from xdl.backends import keras as keras_backend
    from xdl.spec import registry

    net = models.build(registry.get("mlp"), "keras")
    monkeypatch.setattr(type(net), "save_weights", lambda *a, **k: pytest.fail("HDF5 was asked to write"))
    _no_room(monkeypatch)
    with pytest.raises(OSError) as caught:
        keras_backend.save_weights(net, tmp_path / "model.weights.h5")
    assert caught.value.errno == 28
    assert not list(tmp_path.iterdir())
