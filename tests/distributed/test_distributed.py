"""Distributed training: N workers with batch B/N each take the same steps as one process with
batch B (proved for each engine), a distributed run exports and verifies like any other, the
multi-machine launch works on localhost, and failures end in one line and a documented code with
nothing half-written. Loaders read only a worker's shard, in every real format."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import test_data
import test_zoo_data

import distributed_steps
from conftest import ROOT
from xdl import backends, data, models
from xdl.data import Shard
from xdl.errors import EXIT_INPUT, EXIT_INTERRUPTED, EXIT_WORKER
from xdl.spec import registry

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _xdl(*args, env=None, timeout=300, **popen):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, **popen)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("xdl: error:")]


def _tf_config(ports, index) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}})


# -- the proof: N workers = one process ------------------------------------------------------------

def _reference(framework: str, model: str):
    """One process, whole batches of B: the weights and losses the workers must reach."""
    spec, fw = registry.get(model), backends.load(framework)
    fw.seed_everything(spec.recipe.seed)
    net = models.build(spec, framework)
    fw.disable_dropout(net)
    losses = fw.train_steps(net, spec, distributed_steps.global_batches(spec), "sgd", distributed_steps.LR)
    return distributed_steps.flat_weights(framework, net), losses


def _assert_same_steps(framework: str, path: Path, model: str = "mlp"):
    weights, losses = _reference(framework, model)
    got = np.load(path)
    assert sorted(weights) == sorted(k for k in got.files if k != "losses")
    worst = max(float(np.abs(weights[k] - got[k]).max()) for k in weights)
    assert worst < 1e-6, f"{framework}: distributed weights differ from one process's by {worst}"
    moved = max(float(np.abs(weights[k] - _reference_start(framework, model)[k]).max()) for k in weights)
    assert moved > 1e-3  # the steps changed the weights: agreeing is not agreeing on nothing
    np.testing.assert_allclose(got["losses"], losses, rtol=1e-5)


def _reference_start(framework: str, model: str):
    spec, fw = registry.get(model), backends.load(framework)
    fw.seed_everything(spec.recipe.seed)
    return distributed_steps.flat_weights(framework, models.build(spec, framework))


def _steps(launcher: list, *args, out: Path, env=None) -> subprocess.Popen:
    """Starts tests/distributed/distributed_steps.py under `launcher` (torchrun, or Python itself)."""
    return subprocess.Popen([*launcher, str(HERE / "distributed_steps.py"), *map(str, args), "--out", str(out)],
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(*processes: subprocess.Popen) -> None:
    for p in processes:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[:3000] + "\n...\n" + err[-1500:]  # a worker's own words come first


def test_torch_two_gloo_processes_step_like_one_process(tmp_path):
    _finish(_steps([*TORCHRUN, "--standalone", "--nproc-per-node", "2"], "--framework", "torch", out=tmp_path / "w.npz"))
    _assert_same_steps("torch", tmp_path / "w.npz")


def test_keras_two_logical_cpus_step_like_one_process(tmp_path):
    # A process of its own: TensorFlow splits the CPU into devices only before its runtime starts.
    _finish(_steps([sys.executable], "--framework", "keras", "--workers", "2", out=tmp_path / "w.npz"))
    _assert_same_steps("keras", tmp_path / "w.npz")


@pytest.mark.parametrize("model", ["tagger", "recommender"])
def test_a_loss_per_token_and_two_inputs_split_the_same_way(tmp_path, model):
    """The tagger's loss is a mean over every token, the recommender takes two inputs: the Keras
    replicas' shares still add up to one process's step (PyTorch's DDP needs no such care)."""
    _finish(_steps([sys.executable], "--framework", "keras", "--workers", "2", "--model", model, out=tmp_path / "w.npz"))
    _assert_same_steps("keras", tmp_path / "w.npz", model)


def test_keras_two_workers_on_localhost_step_like_one_process(tmp_path):
    ports = [_free_port(), _free_port()]
    _finish(*(_steps([sys.executable], "--framework", "keras", out=tmp_path / f"w{i}.npz",
                     env={"TF_CONFIG": _tf_config(ports, i)}) for i in range(2)))
    assert not (tmp_path / "w1.npz").exists()  # only the chief writes
    _assert_same_steps("keras", tmp_path / "w0.npz")


# -- shards: each worker reads its rows, and only those --------------------------------------------

@pytest.mark.parametrize("n, count", [(10, 3), (9, 3), (1437, 2), (5, 4)])
def test_a_shard_holds_the_rows_torchs_distributed_sampler_gives(n, count):
    from torch.utils.data import DistributedSampler

    for rank in range(count):
        sampler = DistributedSampler(range(n), num_replicas=count, rank=rank, shuffle=False, drop_last=True)
        assert Shard(rank, count).rows(n).tolist() == list(sampler)


def _real_files(tmp_path) -> dict[str, Path]:
    """Each real data set's files, small, in its real format; name -> --data-dir."""
    rng = np.random.default_rng(7)
    (tmp_path / "mnist").mkdir()
    test_data._fake_mnist(tmp_path / "mnist" / "mnist.npz", n_train=53)
    batches = [test_data._cifar_batches(rng, 7) for _ in range(6)]
    test_data._write_cifar_python(tmp_path / "cifar-py" / "cifar-10-batches-py", batches)
    test_data._write_cifar_binary(tmp_path / "cifar-bin" / "cifar-10-batches-bin", batches)
    (tmp_path / "imdb").mkdir()
    reviews = [rng.integers(1, 12000, rng.integers(3, 40)).tolist() for _ in range(31)]
    test_zoo_data._write_imdb(tmp_path / "imdb" / "imdb.npz", reviews, rng.integers(0, 2, 31).tolist())
    (tmp_path / "movielens").mkdir()
    rows = [f"{u}\t{i}\t{r}\t8750000{k:02d}" for k, (u, i, r) in
            enumerate(zip(rng.integers(1, 944, 40), rng.integers(1, 1683, 40), rng.integers(1, 6, 40)))]
    (tmp_path / "movielens" / "u.data").write_text("\n".join(rows) + "\n")
    conll = tmp_path / "conll" / "conll2003"
    conll.mkdir(parents=True)
    words = ["EU", "rejects", "German", "Peter", "Blackburn", "in", "Paris"]
    tags = ["B-ORG", "O", "B-MISC", "B-PER", "I-PER", "O", "B-LOC"]
    sentences = ["\n".join(f"{words[j]} NN O {tags[j]}" for j in rng.integers(0, 7, rng.integers(1, 6))) for _ in range(23)]
    (conll / "train.txt").write_text("-DOCSTART- -X- -X- O\n\n" + "\n\n".join(sentences) + "\n")
    (conll / "test.txt").write_text("Peter NNP B-NP B-PER\nin IN B-PP O\n")
    return {"mnist": tmp_path / "mnist", "cifar10": tmp_path / "cifar-py", "imdb": tmp_path / "imdb",
            "movielens": tmp_path / "movielens", "conll": tmp_path / "conll", "cifar10 (binary)": tmp_path / "cifar-bin"}


def test_every_real_loader_gives_each_worker_its_shard(tmp_path):
    for name, folder in _real_files(tmp_path).items():
        name = name.split()[0]
        whole = data.load(name, data_dir=folder, validation_split=0.2)
        shards = [data.load(name, data_dir=folder, validation_split=0.2, shard=Shard(r, 3)) for r in range(3)]
        per_worker = len(whole.x_train) // 3
        for rank, part in enumerate(shards):
            np.testing.assert_array_equal(part.x_train, whole.x_train[rank::3][:per_worker], err_msg=name)
            np.testing.assert_array_equal(part.y_train, whole.y_train[rank::3][:per_worker], err_msg=name)
            np.testing.assert_array_equal(part.x_val, whole.x_val, err_msg=name)  # every worker validates alike
            assert len(part.x_test) == (len(whole.x_test) if rank == 0 else 0), name  # rank 0 scores the test set
        assert sum(len(p.x_train) for p in shards) == 3 * per_worker >= len(whole.x_train) - 2


def _peak_bytes(load) -> int:
    tracemalloc.start()
    try:
        load()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name, files", [("mnist", "mnist"), ("cifar10", "cifar10 (binary)")])
def test_a_worker_does_not_read_the_other_workers_rows(tmp_path, name, files):
    """mnist.npz and CIFAR-10's binary batches are read row by row: a worker's peak memory is its
    quarter of the images, not the whole training set (numpy's allocations are traced)."""
    rng = np.random.default_rng(0)
    if name == "mnist":
        folder = tmp_path / "mnist"
        folder.mkdir()
        np.savez(folder / "mnist.npz", x_train=rng.integers(0, 256, (8000, 28, 28), np.uint8),
                 y_train=rng.integers(0, 10, 8000, np.uint8), x_test=rng.integers(0, 256, (10, 28, 28), np.uint8),
                 y_test=np.arange(10, dtype=np.uint8))
        whole_float = 8000 * 28 * 28 * 4
    else:
        folder = tmp_path / "cifar-bin"
        test_data._write_cifar_binary(folder / "cifar-10-batches-bin", [test_data._cifar_batches(rng, 1600) for _ in range(6)])
        whole_float = 8000 * 3072 * 4
    whole = _peak_bytes(lambda: data.load(name, data_dir=folder))
    shard = _peak_bytes(lambda: data.load(name, data_dir=folder, shard=Shard(1, 4)))
    assert whole >= whole_float  # the measurement sees the arrays
    assert shard < 0.4 * whole, f"a quarter's load peaked at {shard / whole:.0%} of the whole's"


# -- end to end: a distributed run is a run ---------------------------------------------------------

@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_a_distributed_run_exports_and_verifies_like_any_run(tmp_path, framework):
    runs, out = tmp_path / "runs", tmp_path / "exported_models"
    r = _xdl("train", "mlp", "--framework", framework, "--workers", "2", "--quick", "--runs", runs)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("mlp/" + framework + ": test accuracy") == 1  # one report, not one per worker
    metrics = json.loads((runs / "mlp" / framework / "metrics.json").read_text())
    quick_samples = registry.get("mlp").recipe.quick_train_samples
    assert metrics["distributed"]["replicas"] == 2 and metrics["train_samples"] == quick_samples  # as one process's
    assert not list((runs / "mlp").glob(".*tmp*"))
    r = _xdl("export", "mlp", "--framework", framework, "--runs", runs, "--out", out)
    assert r.returncode == 0, r.stderr[-2000:]
    manifest = json.loads((out / "mlp" / framework / "manifest.json").read_text())
    assert manifest["metrics"]["distributed"] == metrics["distributed"]  # the artifact says how it was trained
    r = _xdl("verify", out / "mlp" / framework, "--providers", "cpu")
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def test_torchruns_own_multi_machine_command_on_localhost(tmp_path):
    """docs/distributed.md's two-machine command, both "machines" here: torchrun --nnodes 2."""
    port = _free_port()
    nodes = [subprocess.Popen([*TORCHRUN, "--nnodes", "2", "--node-rank", str(i), "--nproc-per-node", "1",
                               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                               "-m", "xdl", "train", "mlp", "--framework", "torch", "--quick", "--runs", tmp_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [n.communicate(timeout=300) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert "test accuracy" in outputs[0][0] and "test accuracy" not in outputs[1][0]  # rank 0 reports
    metrics = json.loads((tmp_path / "mlp" / "torch" / "metrics.json").read_text())
    assert metrics["distributed"]["processes"] == 2


def test_xdl_launches_one_machine_of_several(tmp_path):
    port = _free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "xdl", "train", "mlp", "--framework", "torch", "--quick",
                               "--workers", "1", "--nodes", "2", "--node-rank", str(i), "--rendezvous",
                               f"127.0.0.1:{port}", "--runs", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [n.communicate(timeout=300) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    assert (tmp_path / "mlp" / "torch" / "metrics.json").is_file()


def test_keras_workers_described_by_tf_config(tmp_path):
    ports = [_free_port(), _free_port()]
    workers = [subprocess.Popen([sys.executable, "-m", "xdl", "train", "mlp", "--framework", "keras", "--quick",
                                 "--runs", str(tmp_path)], env={**os.environ, "TF_CONFIG": _tf_config(ports, i)},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    metrics = json.loads((tmp_path / "mlp" / "keras" / "metrics.json").read_text())
    assert metrics["distributed"]["processes"] == 2 and "MultiWorkerMirroredStrategy" in metrics["distributed"]["engine"]


# -- failures: one line, a documented code, nothing half-written ----------------------------------

def _previous_run(runs: Path) -> Path:
    folder = runs / "mlp" / "torch"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text('{"previous": true}')
    return folder


def _staging_pid(runs: Path, process: subprocess.Popen) -> int:
    """Waits until rank 0 has started training (its staging folder, named after its pid, exists)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        staged = list((runs / "mlp").glob(".torch.tmp-*"))
        if staged:
            return int(staged[0].name.rsplit("-", 1)[1])
        assert process.poll() is None, process.communicate()[1][-2000:]
        time.sleep(0.2)
    raise AssertionError("training never started")


def _long_run(runs: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xdl", "train", "mlp", "--framework", "torch", "--workers", "2",
                             "--epochs", "200", "--runs", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _nothing_half_written(runs: Path, previous: Path) -> None:
    assert json.loads((previous / "metrics.json").read_text()) == {"previous": True}  # the last run, as it was
    assert sorted(p.name for p in (runs / "mlp").iterdir() if not p.name.endswith(".lock")) == ["torch"]


def test_a_worker_that_dies_ends_the_run_with_exit_4(tmp_path):
    previous = _previous_run(tmp_path)
    run = _long_run(tmp_path)
    os.kill(_staging_pid(tmp_path, run), signal.SIGKILL)
    _, err = run.communicate(timeout=180)
    assert run.returncode == EXIT_WORKER, err[-2000:]
    assert _error_lines(err) == [line for line in _error_lines(err) if "worker 0 died (SIGKILL)" in line] != []
    assert "Traceback" not in err
    _nothing_half_written(tmp_path, previous)


def test_ctrl_c_ends_every_worker_with_exit_130(tmp_path):
    previous = _previous_run(tmp_path)
    run = _long_run(tmp_path)
    _staging_pid(tmp_path, run)
    os.killpg(run.pid, signal.SIGINT)  # what the terminal sends the whole foreground group
    _, err = run.communicate(timeout=180)
    assert run.returncode == EXIT_INTERRUPTED, err[-2000:]
    assert "Traceback" not in err
    _nothing_half_written(tmp_path, previous)


def _one_line(r, code: int, *words: str) -> None:
    lines = _error_lines(r.stderr)
    assert r.returncode == code and len(lines) == 1, r.stderr[-2000:]
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in r.stderr


def test_a_workers_own_error_is_said_once(tmp_path):
    r = _xdl("train", "mlp", "--framework", "torch", "--workers", "2", "--dataset", "mnist", "--data-dir", tmp_path,
             "--runs", tmp_path)
    _one_line(r, EXIT_INPUT, "worker 0:", "mnist", "not available offline")
    assert "interrupted" not in r.stderr and not (tmp_path / "mlp").exists()


def test_a_rendezvous_port_in_use_is_one_line(tmp_path):
    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        port = held.getsockname()[1]
        r = _xdl("train", "mlp", "--framework", "torch", "--workers", "1", "--nodes", "2", "--node-rank", "0",
                 "--rendezvous", f"127.0.0.1:{port}", "--quick", "--runs", tmp_path)
    _one_line(r, EXIT_INPUT, f"port {port} is in use")


def test_an_unreachable_rendezvous_is_one_line(tmp_path):
    r = _xdl("train", "mlp", "--framework", "torch", "--workers", "1", "--nodes", "2", "--node-rank", "1",
             "--rendezvous", f"127.0.0.1:{_free_port()}", "--quick", "--runs", tmp_path, env={"XDL_JOIN_TIMEOUT": "2"})
    _one_line(r, EXIT_WORKER, "cannot reach the rendezvous", "start node 0 first")


def test_a_tf_config_port_in_use_is_one_line(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        ports = [held.getsockname()[1], _free_port()]
        r = _xdl("train", "mlp", "--framework", "keras", "--quick", "--runs", tmp_path,
                 env={"TF_CONFIG": _tf_config(ports, 0)})
    _one_line(r, EXIT_INPUT, f"localhost:{ports[0]}", "is in use")


def test_a_keras_worker_whose_peers_never_come_is_one_line(tmp_path):
    r = _xdl("train", "mlp", "--framework", "keras", "--quick", "--runs", tmp_path,
             env={"TF_CONFIG": _tf_config([_free_port(), _free_port()], 0), "XDL_JOIN_TIMEOUT": "3"})
    _one_line(r, EXIT_WORKER, "did not all join within 3 s")
    assert not (tmp_path / "mlp").exists()


@pytest.mark.parametrize("args, env, words", [
    (["mlp", "--framework", "torch", "--workers", "3"], {}, ["batch of 128 does not split into 3"]),
    (["transfer", "--framework", "torch", "--workers", "2"], {}, ["phases", "without --workers"]),
    (["mlp", "--framework", "torch", "--nodes", "2"], {}, ["go together"]),
    (["mlp", "--framework", "keras", "--workers", "2", "--nodes", "2", "--node-rank", "0", "--rendezvous", "h:1"], {},
     ["TF_CONFIG"]),
    (["mlp", "--framework", "torch", "--workers", "1"], {}, ["at least 2"]),
    (["mlp", "--framework", "keras"], {"TF_CONFIG": "{not json"}, ["TF_CONFIG is not a cluster description"]),
    (["mlp", "--framework", "torch", "--workers", "1", "--nodes", "2", "--node-rank", "2", "--rendezvous", "h:1"], {},
     ["--node-rank 2 is not one of 0..1"]),
])
def test_distributed_usage_errors_are_one_line(tmp_path, args, env, words):
    _one_line(_xdl("train", *args, "--quick", "--runs", tmp_path, env=env), EXIT_INPUT, *words)


# -- the scaling numbers ----------------------------------------------------------------------------

def test_committed_scaling_table_is_the_rendered_json():
    from xdl.tools import scaling

    root = ROOT / "benchmarks"
    result = json.loads((root / "scaling-cpu.json").read_text())
    assert (root / "scaling-cpu.md").read_text() == scaling.render(result) + "\n"
    measured = {(r["model"], r["framework"], r["workers"]) for r in result["rows"] if "error" not in r}
    assert {("mlp", f, n) for f in ("keras", "torch") for n in (1, 2)} <= measured
    assert all(r["samples_per_second"] > 0 for r in result["rows"] if "error" not in r)


def test_scaling_reports_a_run_that_cannot_be_distributed():
    from xdl.tools import scaling

    result = scaling.run(["transfer"], ["torch"], (2,), 1)
    assert "phases" in result["rows"][0]["error"] and scaling.exit_code(result) == EXIT_INPUT
    assert "transfer | torch | 2 | xdl: error:" in scaling.render(result)
