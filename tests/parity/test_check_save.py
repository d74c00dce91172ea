"""xdl check --save (xdl.parity.saving): the checked model kept as an artifact that `xdl verify`
re-checks with the core dependencies only and judges as check did; tampering fails it; the
folder is written whole or not at all; --opset and a tolerance override with its reason."""

import errno
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import xdl
from conftest import COMMITTED, ROOT, linear_net
from xdl import artifacts, cli, verify
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_PARITY, EnvironmentProblem, InputError, NothingCompared
from xdl.manifest import USER_TASK
from xdl.spec import Tolerance

REASON = "the weights were rounded upstream"


class _Keywords:
    """Keyword inputs (a float and an int64 mask) and an integer output beside the float one."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = torch.nn.Linear(8, 4)

            def forward(self, x, mask):
                logits = self.fc(x) * mask
                return {"logits": logits, "label": logits.argmax(-1)}

        torch.manual_seed(2)
        return Net()


def _x(rows=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(rows, 8)).astype(np.float32)


def _verify(folder, batch_sizes=(1, 2, 7)):
    return verify.verify_paths([folder], ("cpu",), batch_sizes=batch_sizes)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny torch model checked and saved with a tolerance override."""
    folder = tmp_path_factory.mktemp("saved") / "linear"
    report = xdl.check(linear_net(), _x(), providers=("cpu",), save=folder,
                       tolerance_override=Tolerance(1e-3, 1e-4, REASON))
    assert report.exit_code == 0
    return folder


def _copy(saved, tmp_path):
    import shutil

    return shutil.copytree(saved, tmp_path / "copy")


def test_the_saved_artifact_holds_the_inputs_the_native_outputs_and_the_manifest(saved):
    import torch

    art = artifacts.load(saved)
    m = art.manifest
    assert (m.task, m.model, m.framework, m.factory, m.opset) == (USER_TASK, "Linear", "torch", None, 18)
    assert sorted(art.files) == ["model.onnx", "test_data_set_0/input_0.pb", "test_data_set_0/output_0.pb"]
    assert [(t.name, t.shape, t.dtype) for t in m.contract.inputs] == [("input_0", (None, 8), "float32")]
    assert [(t.name, t.kind) for t in m.contract.outputs] == [("output_0", "logits")]
    np.testing.assert_array_equal(art.inputs["input_0"], _x())
    with torch.no_grad():
        np.testing.assert_array_equal(art.outputs["output_0"], linear_net()(torch.from_numpy(_x())).numpy())
    assert m.tolerance["override"] == {"atol": 1e-3, "rtol": 1e-4, "reason": REASON}
    assert m.tolerance["outputs"]["output_0"]["cpu"] == {"atol": 1e-3, "rtol": 1e-4, "reason": REASON}
    assert m.tolerance["outputs"]["output_0"]["cuda-tf32"]["atol"] == 1e-2  # the override is float32's only
    assert {"xdl", "onnx", "onnxruntime", "torch"} <= set(m.versions)


def test_verify_gives_check_s_verdict_and_says_the_override_on_every_line(saved):
    from xdl.report import check_line

    report = _verify(saved)
    assert report.exit_code == 0 and report.count("pass") == 3
    for c in report.checks:
        assert (c.atol, c.rtol) == (1e-3, 1e-4)
        assert f"tolerance override atol 0.001, rtol 0.0001: {REASON}" in check_line(c)


def test_a_saved_artifact_is_verified_with_the_core_dependencies_only(saved):
    probe = ("import json, sys\nfrom xdl import cli\ncode = cli.main(['verify', sys.argv[1], '--providers', 'cpu'])\n"
             "print('\\nMODULES ' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))")
    run = subprocess.run([sys.executable, "-c", probe, str(saved)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    result = json.loads(run.stdout.rstrip().rsplit("\n", 1)[-1][len("MODULES "):])
    assert result["code"] == 0, run.stdout[-2000:] + run.stderr[-2000:]
    loaded = [m for m in result["modules"] if m.split(".")[0] in ("torch", "keras", "tensorflow", "tf2onnx")
              or m.startswith(("xdl.backends", "xdl.parity", "xdl.models"))]
    assert loaded == []


def test_nothing_compared_in_check_is_nothing_compared_in_verify(tmp_path):
    with pytest.raises(NothingCompared):
        xdl.check(linear_net(zero=True), _x(), providers=("cpu",), save=tmp_path / "zero")
    report = _verify(tmp_path / "zero")
    assert report.exit_code == EXIT_ENVIRONMENT and report.count("empty") == 3 and report.count("pass") == 0


def test_keyword_inputs_and_an_integer_output_round_trip(tmp_path):
    x = _x()
    mask = np.ones((4, 4), dtype=np.int64)
    report = xdl.check(_Keywords.build(), {"x": x, "mask": mask}, providers=("cpu",), save=tmp_path / "kw")
    assert report.exit_code == 0
    again = _verify(tmp_path / "kw")
    assert again.exit_code == 0
    label = [c for c in again.checks if c.output == "label"]
    assert label and all((c.atol, c.rtol) == (0.0, 0.0) and "integers compared exactly" in c.detail for c in label)
    art = artifacts.load(tmp_path / "kw")
    assert list(art.inputs) == ["x", "mask"] and art.inputs["mask"].dtype == np.int64


def _rehash(folder, name):
    manifest = json.loads((folder / "manifest.json").read_text())
    path = folder / name
    manifest["files"][name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _edit_manifest(change):
    def edit(folder):
        manifest = json.loads((folder / "manifest.json").read_text())
        change(manifest)
        (folder / "manifest.json").write_text(json.dumps(manifest))
    return edit


@pytest.mark.parametrize("tamper, message", [
    (lambda f: _flip_byte(f / "model.onnx"), "model.onnx does not match its sha256"),
    (lambda f: _flip_byte(f / "test_data_set_0/input_0.pb"), "input_0.pb does not match its sha256"),
    (lambda f: _flip_byte(f / "test_data_set_0/output_0.pb"), "output_0.pb does not match its sha256"),
    (_edit_manifest(lambda m: m["tolerance"]["override"].update(atol=1.0)),
     "the manifest's tolerance override is not the one model.onnx records"),
    (_edit_manifest(lambda m: m["tolerance"].update(override=None)),
     "the manifest's tolerance override is not the one model.onnx records"),
    (_edit_manifest(lambda m: m["contract"]["outputs"][0].update(kind="probabilities")),
     "the manifest's contract is not the one model.onnx records"),
    (_edit_manifest(lambda m: m["files"]["model.onnx"].update(bytes=1)), "bytes, the manifest says 1:"),
])
def test_a_tampered_saved_artifact_fails_verify(saved, tmp_path, tamper, message):
    folder = _copy(saved, tmp_path)
    tamper(folder)
    report = _verify(folder)
    assert report.exit_code == EXIT_INPUT
    assert any(message in c.detail for c in report.checks), [c.detail for c in report.checks]


def test_a_changed_test_vector_re_hashed_is_a_failure(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    path = folder / "test_data_set_0" / "output_0.pb"
    proto = onnx.TensorProto()
    proto.ParseFromString(path.read_bytes())
    path.write_bytes(numpy_helper.from_array(numpy_helper.to_array(proto) + 0.01, proto.name).SerializeToString())
    _rehash(folder, "test_data_set_0/output_0.pb")
    report = _verify(folder)
    assert report.exit_code == EXIT_PARITY and report.count("fail") == 3


def test_an_override_needs_its_reason():
    with pytest.raises(InputError, match="needs its reason"):
        xdl.check(linear_net(), _x(), providers=("cpu",), tolerance_override=Tolerance(1e-3, 1e-3, " "))


@pytest.mark.parametrize("opset", [16, 22, True])
def test_opsets_the_exporters_do_not_reach_are_refused(opset):
    with pytest.raises(InputError, match="opset .* refused: the torch exporter supports opsets 17 to 21"):
        xdl.check(linear_net(), _x(), providers=("cpu",), opset=opset)


def test_another_opset_is_exported_and_recorded(tmp_path):
    xdl.check(linear_net(), _x(), providers=("cpu",), opset=17, save=tmp_path / "o17")
    art = artifacts.load(tmp_path / "o17")
    assert art.manifest.opset == 17
    assert [o.version for o in onnx.load_from_string(art.model_bytes).opset_import if o.domain == ""] == [17]


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """A module in the working directory, as `xdl check MODULE:FACTORY` loads it."""
    name = f"savenet_{os.getpid()}_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text(
        "import torch\n\ndef build():\n    torch.manual_seed(0)\n    return torch.nn.Linear(8, 3)\n")
    monkeypatch.chdir(tmp_path)
    yield f"{name}:build"
    sys.modules.pop(name, None)


def test_the_cli_saves_and_records_the_factory(factory, tmp_path, capsys):
    args = ["check", factory, "--input-shape", "4,8", "--providers", "cpu", "--save", "out/net", "--atol", "2e-4",
            "--reason", REASON]
    assert cli.main(args) == 0
    assert capsys.readouterr().out.count(f"tolerance override atol 0.0002, rtol 1e-05: {REASON}") == 2
    manifest = artifacts.read_manifest(tmp_path / "out" / "net")
    assert manifest.factory == factory and manifest.tolerance["override"]["rtol"] == 1e-5  # rtol kept: the policy's
    assert cli.main(["check", factory, "--input-shape", "4,8", "--providers", "cpu", "--save", "out/net"]) == 0
    assert artifacts.read_manifest(tmp_path / "out" / "net").tolerance["override"] is None  # replaced whole
    assert cli.main(["verify", "out/net", "--providers", "cpu"]) == 0
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".net.tmp")]


@pytest.mark.parametrize("flags, message", [
    (["--atol", "1e-3"], "only with --reason TEXT"),
    (["--rtol", "1e-3", "--reason", "  "], "only with --reason TEXT"),
    (["--reason", "why"], "give --atol and/or --rtol with it"),
    (["--opset", "19", "--atol", "1e-3", "--reason", "x", "--opset", "9"], "opset 9 refused: xdl exports at opsets 17 to 21"),
])
def test_cli_tolerance_and_opset_refusals(factory, capsys, flags, message):
    assert cli.main(["check", factory, "--input-shape", "4,8", *flags]) == EXIT_INPUT
    assert message in capsys.readouterr().err


def _registered_artifact(target):
    import shutil

    shutil.copytree(COMMITTED / "dqn" / "torch", target)


@pytest.mark.parametrize("make, message", [
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine"))[0], "holds files xdl did not write"),
    (lambda p: p.write_text("a file"), "is not a folder"),
    (lambda p: os.mkfifo(p), "is not a folder"),
    (lambda p: os.symlink(p.parent, p), "is a symbolic link"),
    (_registered_artifact, "holds an artifact that `xdl check --save` did not write"),
])
def test_a_folder_xdl_check_did_not_write_is_refused_before_the_export(tmp_path, make, message):
    target = tmp_path / "dqn"
    make(target)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match=message):
        xdl.check(linear_net(), _x(), providers=("cpu",), save=target)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_folder_under_a_file_is_refused(tmp_path, factory, capsys):
    (tmp_path / "file").write_text("")
    assert cli.main(["check", factory, "--input-shape", "4,8", "--save", "file/net"]) == EXIT_INPUT
    assert "file is a file, not a folder" in capsys.readouterr().err


def test_a_failed_write_leaves_the_earlier_save_whole(saved, tmp_path, monkeypatch):
    folder = _copy(saved, tmp_path)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    def full(*_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(artifacts, "sha256_file", full)
    with pytest.raises(EnvironmentProblem, match="the disk is full"):
        xdl.check(linear_net(), _x(seed=1), providers=("cpu",), save=folder)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]


@pytest.mark.timeout(300)
def test_a_keras_model_round_trips(tmp_path):
    from xdl import backends

    backends.load("keras")
    import keras

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(InputError, match="the keras exporter supports opsets 17 to 18"):
        xdl.check(net, _x(), providers=("cpu",), opset=19)
    assert xdl.check(net, _x(), providers=("cpu",), kind="probabilities", save=tmp_path / "k").exit_code == 0
    assert artifacts.read_manifest(tmp_path / "k").framework == "keras"
    assert _verify(tmp_path / "k").exit_code == 0


class _Many:
    """Seventeen outputs: more than an artifact's manifest holds."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                return tuple(x * (i + 1) for i in range(17))

        return Net()


def test_more_outputs_than_an_artifact_holds_is_one_line_and_nothing_written(tmp_path):
    with pytest.raises(InputError, match="it has 17 outputs, an artifact holds at most 16; check it without --save"):
        xdl.check(_Many.build(), _x(), providers=("cpu",), save=tmp_path / "many")
    assert list(tmp_path.iterdir()) == []


def _own_file(relative):
    def add(folder):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text("the user's own")
    return add


@pytest.mark.parametrize("add, named", [
    (_own_file("NOTES.md"), "NOTES.md"),
    (lambda f: (f / "mydir").mkdir(), "mydir"),  # an empty folder too: replacing the folder deletes it
    (_own_file(".git/HEAD"), ".git"),
    (_own_file("test_data_set_0/input_1.pb"), "test_data_set_0/input_1.pb"),  # beside the listed ones
])
def test_an_earlier_save_holding_the_user_s_own_files_is_refused_before_the_export(saved, tmp_path, add, named):
    folder = _copy(saved, tmp_path)
    add(folder)
    before = {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")}
    with pytest.raises(InputError, match=rf"^cannot save: {folder} holds {named}, which its manifest does not list"):
        xdl.check(linear_net(), _x(), providers=("cpu",), save=folder)
    assert {p: p.read_bytes() if p.is_file() else None for p in tmp_path.rglob("*")} == before


def test_a_folder_inside_an_earlier_save_is_refused_naming_save(saved, factory, capsys):
    assert cli.main(["check", factory, "--input-shape", "4,8", "--save", str(saved / "sub")]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert f"is inside the artifact {saved}; write elsewhere (--save)" in err and "--out" not in err


def test_a_save_leaves_no_lock_file_beside_the_folder(saved):
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_the_lock_file_is_removed_and_a_waiting_writer_takes_a_fresh_one(tmp_path):
    """A writer that opened the lock file before its holder removed it must not hold a lock on the
    removed file (a third writer would then hold the path's new one at the same time)."""
    import threading

    folder = tmp_path / "net"
    order = []
    first = artifacts._locked(folder)
    first.__enter__()

    def second():
        with artifacts._locked(folder) as lock:
            order.append(("second", os.fstat(lock.fd).st_ino == os.stat(lock.path).st_ino))

    waiter = threading.Thread(target=second)
    waiter.start()
    waiter.join(0.5)  # it opened the file and waits on it
    order.append(("first", None))
    first.__exit__(None, None, None)
    waiter.join(30)
    assert order == [("first", None), ("second", True)]  # it held the file at the path, not the removed one
    assert list(tmp_path.iterdir()) == []


def test_verify_of_a_broken_user_artifact_says_how_to_save_it_again(saved, tmp_path):
    folder = _copy(saved, tmp_path)
    path = folder / "test_data_set_0" / "output_0.pb"
    path.write_bytes(path.read_bytes()[:10])
    report = _verify(folder)
    assert report.exit_code == EXIT_INPUT
    details = [c.detail for c in report.checks]
    assert any(f"re-run `xdl check MODULE:FACTORY ... --save {folder}`" in d for d in details), details
    assert not any("xdl export" in d for d in details), details
