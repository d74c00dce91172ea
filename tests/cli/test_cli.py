"""The command line, run as a user runs it, reading exit codes and stderr: in a subprocess, or
through cli.main in this process (`xdl_here`) where a command imports PyTorch or TensorFlow,
which costs seconds per process."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import test_bad_inputs

from conftest import COMMITTED, ROOT
from xdl import verify

xdl_here = test_bad_inputs.xdl_here  # the fixture


def xdl(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


def _one_clean_line(result):
    """The one error line; an old spelling's deprecation note (`xdl: note:`) aside."""
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("xdl: note:")]
    assert len(lines) == 1 and lines[0].startswith("xdl: error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_help_lists_commands_and_exit_codes():
    r = xdl("--help")
    assert r.returncode == 0
    for word in ("list", "train", "export", "verify", "all", "exit codes"):
        assert word in r.stdout


def test_list_and_help_do_not_import_frameworks():
    code = (
        "import sys, contextlib, io\n"
        "from xdl import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()): cli.main(['list'])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'torch', 'tf2onnx') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def test_list_shows_every_model():
    r = xdl("list")
    assert r.returncode == 0
    assert "mlp" in r.stdout and "cnn" in r.stdout and "407,050" in r.stdout


def test_unknown_model_exits_2_and_lists_known_models():
    r = xdl("train", "nosuch", "--framework", "torch")
    assert r.returncode == 2
    line = _one_clean_line(r)
    assert "nosuch" in line and "mlp" in line and "cnn" in line


def test_bad_usage_exits_2():
    assert xdl("train").returncode == 2
    assert xdl("train", "mlp", "--framework", "jax").returncode == 2


def test_missing_data_set_exits_2(tmp_path):
    r = xdl("train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp_path,
            "--runs", tmp_path / "runs")
    assert r.returncode == 2
    assert "not available offline" in _one_clean_line(r)


def test_train_on_a_real_data_set_file(tmp_path, xdl_here):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "mnist.npz", x_train=rng.integers(0, 256, (160, 28, 28), np.uint8),
             y_train=np.arange(160) % 10, x_test=rng.integers(0, 256, (20, 28, 28), np.uint8),
             y_test=np.arange(20) % 10)
    r = xdl_here(["train", "mlp", "--framework", "torch", "--dataset", "mnist", "--data-dir", tmp_path,
                  "--quick", "--runs", tmp_path / "runs"])
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "runs" / "mlp" / "torch" / "metrics.json").read_text())
    assert metrics["dataset"] == "mnist" and metrics["train_samples"] == 160
    assert str(tmp_path / "mnist.npz") in metrics["data_source"]


def test_data_set_the_model_cannot_use_exits_2(tmp_path):
    r = xdl("train", "mlp", "--framework", "torch", "--dataset", "cifar10", "--runs", tmp_path)
    assert r.returncode == 2
    assert "mlp cannot train on 'cifar10'" in _one_clean_line(r)


def test_export_before_training_exits_2(tmp_path, xdl_here):
    r = xdl_here(["export", "cnn", "--framework", "keras", "--runs", tmp_path, "--out", tmp_path / "out"])
    assert r.returncode == 2
    assert "xdl train cnn" in _one_clean_line(r)
    assert not (tmp_path / "out").exists()


def test_verify_committed_artifacts_exits_0():
    r = xdl("verify", "exported_models", "--providers", "cpu")
    assert r.returncode == 0, r.stdout + r.stderr
    # every artifact (variants included) x 4 batch sizes (1, 2, 7, 64), cut from the stored samples
    artifacts = len(list(COMMITTED.rglob("manifest.json")))
    assert r.stdout.count("PASS") == 4 * artifacts and "FAILED" not in r.stdout


def test_verify_tampered_copy_exits_2(tmp_path):
    shutil.copytree(COMMITTED / "cnn", tmp_path / "cnn")
    with open(tmp_path / "cnn" / "keras" / "model.onnx", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    r = xdl("verify", tmp_path, "--providers", "cpu")
    assert r.returncode == 2
    assert "sha256" in r.stdout and "PASS" in r.stdout  # the intact torch export still reports


def test_verify_missing_path_exits_2(tmp_path):
    r = xdl("verify", tmp_path / "nothing")
    assert r.returncode == 2
    assert "does not exist" in _one_clean_line(r)


@pytest.mark.skipif(verify.provider_status("cuda")[0], reason="this machine has CUDA")
def test_verify_cuda_skipped_or_required():
    r = xdl("verify", "exported_models", "--providers", "cpu,cuda")
    assert r.returncode == 0
    assert "SKIPPED" in r.stdout and "CUDAExecutionProvider" in r.stdout
    r = xdl("verify", "exported_models", "--require", "cuda")
    assert r.returncode == 3
    assert "FAILED (exit 3)" in r.stdout


def test_verify_live_reruns_the_native_twins(xdl_here):
    r = xdl_here(["verify", "exported_models/mlp", "--providers", "cpu", "--live", "mlp"])
    assert r.returncode == 0, r.stdout + r.stderr
    for n in (1, 2, 7, 64):
        assert f"probs [{n}, 10]" in r.stdout


def test_verify_reports_json_markdown_and_junit(tmp_path):
    import xml.etree.ElementTree as ET

    shutil.copytree(COMMITTED / "mlp", tmp_path / "art" / "mlp")
    (tmp_path / "art" / "mlp" / "torch" / "test_data_set_0" / "output_0.pb").write_bytes(b"tampered")
    for fmt, name in (("json", "r.json"), ("markdown", "r.md"), ("junit", "r.xml")):
        r = xdl("verify", tmp_path / "art", "--providers", "cpu,cuda", "--format", fmt, "--output", tmp_path / name)
        assert r.returncode == 2, r.stderr  # the tampered torch artifact
        assert f"{fmt} report:" in r.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    # every intact artifact (mlp/keras and mlp's variants) passes at 4 batch sizes; mlp/torch is one error
    intact = len(list((tmp_path / "art").rglob("manifest.json"))) - 1
    assert report["exit_code"] == 2 and report["summary"]["pass"] == 4 * intact and report["summary"]["error"] == 1
    md = (tmp_path / "r.md").read_text()
    assert md.startswith("### xdl verify: FAILED (exit 2)") and "| pass | mlp/keras | cpu | probs |" in md
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(report["checks"])
    assert int(suite.get("errors")) == sum(c.find("error") is not None for c in cases) == 1
    assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
    assert {"xdl.mlp.keras", "xdl.mlp.torch"} <= {c.get("classname") for c in cases}
    error = next(c for c in cases if c.find("error") is not None).find("error")
    assert "output_0.pb" in error.get("message")


def test_verify_report_to_an_unwritable_place_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = xdl("verify", "exported_models", "--providers", "cpu", "--format", "junit", "--output", blocker / "r.xml")
    assert r.returncode == 2 and not r.stdout  # refused before any artifact is verified
    assert "cannot write the junit report" in _one_clean_line(r) and "is a file, not a folder" in _one_clean_line(r)


def test_bench_runs_and_reports(tmp_path, xdl_here):
    """Benchmarks are measured, never asserted: this checks that bench runs and reports."""
    r = xdl_here(["bench", "mlp", "--quick", "--batch-sizes", "1,4", "--providers", "cpu,cuda",
                  "--format", "json", "--output", tmp_path / "b.json", "--output", tmp_path / "b.png"])
    assert r.returncode == 0, r.stdout + r.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    paths = {t["path"] for t in result["timings"]}
    assert {"keras model(x)", "keras tf.function", "keras predict", "torch eager",
            "ort-cpu[keras]", "ort-cpu[torch]"} <= paths
    assert {t["batch"] for t in result["timings"]} == {1, 4}
    assert all(t["p50_ms"] > 0 and t["p90_ms"] >= t["p50_ms"] for t in result["timings"])
    assert len(result["targets"]) == 3  # the three batch-1 ratios; the batch-64 one needs batch 64
    assert result["environment"]["versions"]["onnxruntime"]
    if not verify.provider_status("cuda")[0]:
        assert "mlp ort-cuda[torch]" in result["skipped"]
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_of_a_model_with_its_own_loop_says_why_its_training_is_not_timed():
    """dqn and gan train in their own loops: bench times their inference and names the reason for
    the training step (it used to stop with an unexpected InvalidArgumentError / ValueError)."""
    from xdl.tools import bench

    result = bench.run(["gan"], batch_sizes=(1,), reps=2, sweep=False)
    assert {t["path"] for t in result["timings"]} >= {"torch eager", "ort-cpu[torch]"}
    assert not any("training" in t["path"] for t in result["timings"])
    for fw in ("keras", "torch"):
        assert "own loop" in result["skipped"][f"gan {fw} training step"]


# --- issue 27: modes are subcommands, one output convention, old spellings for one release ------

def test_help_lists_the_modes_and_hides_the_old_spellings():
    r = xdl("--help")
    for mode in ("export check", "export refresh", "export variant", "parity steps"):
        assert mode in r.stdout
    for command, old in (("export", "--check"), ("export", "--refresh"), ("export", "--variant"),
                         ("parity", "--train-steps"), ("parity", "--json"), ("parity", "--plot"), ("bench", "--json"),
                         ("routes", "--markdown"), ("scaling", "--json"), ("verify", "--report"), ("check", "--report")):
        help_text = xdl(command, "--help").stdout
        assert old not in help_text, (command, old)
        assert command == "export" or "--format" in help_text and "--output" in help_text, (command, help_text)


@pytest.mark.parametrize("args, new", [
    (("verify", "exported_models/mlp/torch", "--providers", "cpu", "--batch-sizes", "1", "--report", "json"),
     "use --format json"),
    (("export", "--check", "nosuch"), "use xdl export check"),
    (("parity", "nosuch", "--train-steps", "1"), "use xdl parity steps"),
    (("bench", "nosuch", "--json", "x.json"), "use --format json --output PATH"),
])
def test_an_old_spelling_works_and_says_what_replaces_it(args, new):
    r = xdl(*args)
    notes = [line for line in r.stderr.splitlines() if line.startswith("xdl: note:")]
    assert len(notes) == 1 and new in notes[0] and "deprecated" in notes[0], r.stderr
    if args[0] == "verify":
        assert r.returncode == 0 and json.loads(r.stdout)["exit_code"] == 0, r.stdout + r.stderr
    else:
        assert r.returncode == 2 and "nosuch" in _one_clean_line(r)


@pytest.mark.parametrize("args", [
    ("train", "mlp", "--out", "x"), ("all", "--data-dir", "x"), ("port", "mlp", "--from", "keras", "--data-dir", "x"),
    ("parity", "mlp", "--data-dir", "x"), ("parity", "mlp", "--runs", "x"), ("diff", "mlp", "--data-dir", "x"),
    ("diff", "mlp", "--runs", "x"), ("export", "check", "--route", "torchscript"), ("export", "check", "--sign", "k"),
    ("parity", "steps", "mlp", "--steps", "1", "--json", "x.json"),  # an old spelling belongs to the old form only
])
def test_flags_no_command_reads_are_refused(args):
    r = xdl(*args)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr, r.stderr


def test_int_lists_refuse_empty_items():
    from xdl.commands import common
    from xdl.errors import XdlError

    assert common.int_list("1,2,64", "--batch-sizes") == (1, 2, 64)
    for bad in ("", "1,,2", "1,", ",1", " , "):
        with pytest.raises(XdlError, match="empty item"):
            common.int_list(bad, "--batch-sizes")
    with pytest.raises(XdlError, match="--opsets takes"):
        common.int_list("17,99", "--opsets", minimum=7, maximum=30)
    r = xdl("verify", "exported_models/mlp/torch", "--providers", "cpu", "--batch-sizes", "1,")
    assert r.returncode == 2 and "--batch-sizes takes comma-separated integers" in _one_clean_line(r)


def test_export_check_is_the_old_export_dash_dash_check(tmp_path, xdl_here):
    shutil.copytree(COMMITTED / "mlp" / "torch", tmp_path / "mlp" / "torch")  # one artifact: the spelling is the point
    new = xdl_here(["export", "check", "mlp", "--out", tmp_path])
    old = xdl_here(["export", "--check", "mlp", "--out", tmp_path])
    assert new.returncode == old.returncode and new.stdout == old.stdout, new.stdout + new.stderr + old.stderr
    assert "xdl: note" not in new.stderr and "xdl: note: --check is deprecated" in old.stderr


# --- issue 27, a review of the new commands ------------------------------------------------------

def test_an_unknown_command_lists_the_commands_one_types():
    r = xdl("nosuch")
    line = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "invalid choice: 'nosuch'" in line and "'export'" in line, r.stderr
    assert "'export check'" not in line and "'parity steps'" not in line, line


@pytest.mark.parametrize("command, args", [(("bench",), ("mlp",)), (("parity",), ("mlp",)),
                                           (("parity", "steps"), ("mlp", "--steps", "1"))])
def test_a_report_suffix_the_command_does_not_write_is_refused(tmp_path, command, args):
    r = xdl(*command, *args, "--output", tmp_path / "b.md")
    assert r.returncode == 2 and "writes text or json, not markdown" in _one_clean_line(r)
    assert not (tmp_path / "b.md").exists()
    assert ".md" not in xdl(*command, "--help").stdout  # the help promises what works only


def test_output_dash_is_stdout(tmp_path):
    art = ROOT / "exported_models" / "mlp" / "torch"
    r = xdl("verify", art, "--providers", "cpu", "--batch-sizes", "1", "--format", "json", "--output", "-", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["exit_code"] == 0, r.stdout + r.stderr
    r = xdl("verify", art, "--providers", "cpu", "--batch-sizes", "1", "--output", "-", "--output", tmp_path / "r.md",
            cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("PASS") and "markdown report:" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "r.md").read_text().startswith("#") and not (tmp_path / "-").exists()
    r = xdl("verify", art, "--output", "-", "--output", "-", cwd=tmp_path)
    assert r.returncode == 2 and "given more than once" in _one_clean_line(r)
    r = xdl("port", "mlp", "--from", "keras", "--output", "-", cwd=tmp_path)  # weights, not a report
    assert r.returncode == 2 and "the ported weights are a file; name a path" in _one_clean_line(r)


def test_verify_fuzz_without_live_is_refused_before_anything_runs(tmp_path):
    r = xdl("verify", tmp_path / "missing", "--fuzz", "3")  # the missing path would be the error after a run
    assert r.returncode == 2 and "--fuzz needs --live MODEL" in _one_clean_line(r) and not r.stdout


@pytest.mark.parametrize("extra, named", [(("--weights", "torch"), "--weights"), (("--providers", "cpu"), "--providers"),
                                          (("--out", "x"), "--out"), (("--output", "h.png"), "--output h.png"),
                                          (("--plot", "h.png"), "--output h.png")])
def test_the_old_train_steps_refuses_options_it_does_not_read(tmp_path, extra, named):
    r = xdl("parity", "mlp", "--train-steps", "1", *extra, cwd=tmp_path)
    assert r.returncode == 2 and f"parity --train-steps does not read {named}:" in _one_clean_line(r)


@pytest.mark.parametrize("extra", [("--optimizer", "spec"), ("--lr", "0.1")])
def test_the_matrix_refuses_the_training_options_it_does_not_read(tmp_path, extra):
    r = xdl("parity", "mlp", *extra, cwd=tmp_path)  # read by `parity steps` (and the old --train-steps) only
    assert r.returncode == 2 and f"does not read {extra[0]}: training parity is `xdl parity steps" in _one_clean_line(r)


_TOKEN_NET = '''import torch


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.head = torch.nn.Embedding(50, 4), torch.nn.Linear(4, 2)

    def forward(self, input_ids, attention_mask):
        return {"logits": self.head(self.embed(input_ids) * attention_mask.unsqueeze(-1))}


def build():
    torch.manual_seed(0)
    return Net()


def zero_head():
    net = torch.nn.Linear(3, 2)
    torch.nn.init.zeros_(net.weight)
    torch.nn.init.zeros_(net.bias)
    return net
'''


def _check(xdl_here, tmp_path, *args):
    (tmp_path / "tokens.py").write_text(_TOKEN_NET)
    return xdl_here(["check", *args, "--providers", "cpu"], users=tmp_path)


def test_check_takes_named_integer_inputs_a_dynamic_length_and_real_samples(tmp_path, xdl_here):
    r = _check(xdl_here, tmp_path, "tokens:build", "--input", "input_ids=3,6:int64:0:50", "--input",
               "attention_mask=3,6:float32", "--dynamic", "input_ids:1", "--dynamic", "attention_mask:1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line.split()[3:5] for line in r.stdout.splitlines()[:3]] == [["logits", "[1,"], ["logits", "[3,"],
                                                                         ["logits", "[3,"]]
    assert "[3, 5, 2]" in r.stdout  # the length one shorter
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "samples.npz", input_ids=rng.integers(0, 50, (2, 4)), attention_mask=np.ones((2, 4), np.float32))
    r = _check(xdl_here, tmp_path, "tokens:build", "--inputs", tmp_path / "samples.npz")
    assert r.returncode == 0 and "logits [2, 4, 2]" in r.stdout, r.stdout + r.stderr


def test_check_says_nothing_meaningful_was_compared(tmp_path, xdl_here):
    r = _check(xdl_here, tmp_path, "tokens:zero_head", "--input-shape", "4,3")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "EMPTY" in r.stdout and "nothing meaningful was compared: every expected value is within" in r.stdout
    assert "nothing meaningful was compared in 2 check(s)" in r.stdout
