"""What the environment can do to a run: variables a cluster node leaves in every shell (RANK,
WORLD_SIZE, MASTER_ADDR, TF_CONFIG) must not make a plain `xdl train` wait for peers, every join is
bounded by XDL_JOIN_TIMEOUT, a mistyped address is one line, and Ctrl-C at any moment (of start-up,
or to a launcher's pid alone) ends in exit 130 with nothing published behind the user's back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from xdl.errors import EXIT_INPUT, EXIT_WORKER

# What a cluster node's shell often holds: a scheduler's or an old job's torch variables.
STRAY_TORCH = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "9"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra) -> dict:
    """This environment without any distributed variables of the test runner's own, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TF_CONFIG",
                        "XDL_JOIN_TIMEOUT", "XDL_WORKER_ERRORS") and not k.startswith("TORCHELASTIC_")}
    return {**env, **extra}


def _xdl(*args, env: dict, timeout: float = 300):
    return subprocess.run([sys.executable, "-m", "xdl", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def _one_line(r, code: int, *words: str) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("xdl: error:")]
    assert r.returncode == code and len(lines) == 1, r.stderr[-3000:]
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in r.stderr and "bug in xdl" not in r.stderr
    return lines[0]


def _tf_config(workers, index=0) -> str:
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


# -- stray variables: a plain run trains alone -------------------------------------------------------

def test_stray_torch_variables_do_not_make_a_plain_run_join_a_group(tmp_path):
    """Before: RANK and WORLD_SIZE made `xdl train` a torchrun worker, which waited up to 10 minutes
    for MASTER_ADDR (no XDL_JOIN_TIMEOUT). Only a process torchrun started joins a group."""
    r = _xdl("train", "mlp", "--framework", "torch", "--quick", "--runs", tmp_path, env=_clean_env(**STRAY_TORCH),
             timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    metrics = json.loads((tmp_path / "mlp" / "torch" / "metrics.json").read_text())
    assert "distributed" not in metrics  # trained in this process, on every row


def test_stray_torch_variables_do_not_confuse_the_launcher(tmp_path):
    """Before: with RANK and WORLD_SIZE set, `--workers 2` did not launch torchrun but joined the
    stray group itself. Now the launcher starts torchrun, which gives its workers their own."""
    r = _xdl("train", "mlp", "--framework", "torch", "--workers", "2", "--quick", "--runs", tmp_path,
             env=_clean_env(**STRAY_TORCH), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "mlp" / "torch" / "metrics.json").read_text())["distributed"]["processes"] == 2


def test_a_torchrun_worker_whose_peers_never_come_ends_within_the_join_timeout(tmp_path):
    """A process torchrun started (TORCHELASTIC_RUN_ID) whose MASTER_ADDR never answers: the join
    is bounded by XDL_JOIN_TIMEOUT, not torch's 10 minutes, and said in one line."""
    env = _clean_env(TORCHELASTIC_RUN_ID="test", RANK="1", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                     MASTER_PORT=str(_free_port()), XDL_JOIN_TIMEOUT="2")
    start = time.monotonic()
    r = _xdl("train", "mlp", "--framework", "torch", "--quick", "--runs", tmp_path, env=env, timeout=120)
    _one_line(r, EXIT_WORKER, "worker 1 could not join the others", "within 2 s", "XDL_JOIN_TIMEOUT")
    assert time.monotonic() - start < 100  # start-up, then the bounded join (torch retries once)
    assert not (tmp_path / "mlp").exists()


@pytest.mark.parametrize("missing, value", [("MASTER_ADDR", None), ("MASTER_PORT", None), ("RANK", "abc")])
def test_an_incomplete_torchrun_environment_is_one_line(tmp_path, missing, value):
    env = _clean_env(TORCHELASTIC_RUN_ID="test", RANK="0", WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT="9")
    env.pop(missing)
    if value is not None:
        env[missing] = value
    r = _xdl("train", "mlp", "--framework", "torch", "--quick", "--runs", tmp_path, env=env, timeout=120)
    _one_line(r, EXIT_INPUT, "torchrun's environment is incomplete", missing)


def test_a_tf_config_cluster_says_why_it_waits_and_is_bounded(tmp_path):
    """A TF_CONFIG left in the environment is TensorFlow's own cluster description, so xdl joins:
    it says so at once, with how to train alone, and gives up after XDL_JOIN_TIMEOUT."""
    workers = [f"localhost:{_free_port()}", f"localhost:{_free_port()}"]
    r = _xdl("train", "mlp", "--framework", "keras", "--quick", "--runs", tmp_path,
             env=_clean_env(TF_CONFIG=_tf_config(workers), XDL_JOIN_TIMEOUT="3"), timeout=180)
    _one_line(r, EXIT_WORKER, "did not all join within 3 s")
    assert f"waiting up to 3 s for {workers[1]}; unset TF_CONFIG to train in this process alone" in r.stderr


# -- mistyped addresses and configurations: one line, exit 2 -----------------------------------------

@pytest.mark.parametrize("tf_config, words", [
    (_tf_config(["localhost:abc", "localhost:2"]), ["'localhost:abc' is not HOST:PORT"]),
    (_tf_config(["localhost:70000"]), ["'localhost:70000' is not HOST:PORT"]),
    (_tf_config(["localhost"]), ["'localhost' is not HOST:PORT"]),
    (_tf_config(["::1:2222"]), ["IPv6 address in brackets"]),
    ('{"cluster": {"worker": ["localhost:1"]}, "task": {"index": 0}', ["not JSON", "character"]),
    ("null", ["not a cluster description"]),
    ('{"cluster": {}, "task": {"index": 0}}', ["not a cluster description", "worker"]),
    (_tf_config([]), ["not a list of host:port"]),
    (_tf_config(["no-such-host.invalid:2222"]), ["cannot resolve 'no-such-host.invalid'"]),
    (_tf_config(["192.0.2.1:2222"]), ["192.0.2.1 is not an address of this machine"]),  # TEST-NET-1
])
def test_a_mistyped_tf_config_is_one_line(tmp_path, tf_config, words):
    r = _xdl("train", "mlp", "--framework", "keras", "--quick", "--runs", tmp_path,
             env=_clean_env(TF_CONFIG=tf_config), timeout=120)
    _one_line(r, EXIT_INPUT, *words)
    assert "waiting" not in r.stderr and not (tmp_path / "mlp").exists()


def _rendezvous(tmp_path, endpoint: str, node_rank: int, **env):
    return _xdl("train", "mlp", "--framework", "torch", "--workers", "1", "--nodes", "2", "--node-rank", node_rank,
                "--rendezvous", endpoint, "--quick", "--runs", tmp_path, env=_clean_env(**env), timeout=120)


@pytest.mark.parametrize("endpoint, words", [
    ("::1:29400", ["IPv6 address in brackets", "[::1]:29400"]),
    ("[::1]:abc", ["is not HOST:PORT"]),
    ("host:", ["is not HOST:PORT"]),
    (":29400", ["is not HOST:PORT"]),
    ("no-such-host.invalid:29400", ["cannot resolve 'no-such-host.invalid'"]),
])
def test_a_mistyped_rendezvous_is_one_line_at_once(tmp_path, endpoint, words):
    start = time.monotonic()
    _one_line(_rendezvous(tmp_path, endpoint, 1, XDL_JOIN_TIMEOUT="60"), EXIT_INPUT, *words)
    assert time.monotonic() - start < 50  # said before the join timeout, not after it


def test_an_ipv6_rendezvous_in_brackets_is_an_address_not_a_name(tmp_path):
    """Before: "[::1]" was looked up as a host name: the join timeout passed, then "Name or service
    not known". Now ::1 is tried as the address it is."""
    r = _rendezvous(tmp_path, f"[::1]:{_free_port()}", 1, XDL_JOIN_TIMEOUT="2")
    _one_line(r, EXIT_WORKER, "cannot reach the rendezvous [::1]:", "start node 0 first")
    assert "Name or service not known" not in r.stderr


# -- Ctrl-C at any moment of start-up ----------------------------------------------------------------

# A sitecustomize for the command's process, in a folder of its own on PYTHONPATH: through Python's
# audit hooks it leaves marker files ("started" once xdl has taken over Ctrl-C, "model_run" when
# xdl.limits starts a model run, with the number of imports until then) and, with
# XDL_TEST_SIGINT_AT_IMPORT=K, sends this process SIGINT as its K-th import starts. Import steps
# are the same on a fast and a loaded machine, unlike fixed delays.
_HOOK = '''
import os, signal, sys

_marks = os.environ["XDL_TEST_MARKS"]
_at = int(os.environ.get("XDL_TEST_SIGINT_AT_IMPORT", "0"))
_imports = 0


def _mark(name, text=""):
    with open(os.path.join(_marks, name), "w") as f:
        f.write(text)


def _hook(event, args):
    global _imports
    if event == "xdl.model_run":
        _mark("model_run", str(_imports))
    elif event == "import" and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        if _imports == 0:
            _mark("started")
        _imports += 1
        if _imports == _at:
            _mark("sent", str(args[0]))
            os.kill(os.getpid(), signal.SIGINT)


sys.addaudithook(_hook)
'''


def observed(tmp_path, args, sigint_at_import: int = 0) -> tuple[subprocess.Popen, Path]:
    """Starts `xdl ARGS` with the marker hook; returns the process and its markers' folder."""
    hook, marks = tmp_path / "hook", tmp_path / "marks"
    for folder in (hook, marks):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    (hook / "sitecustomize.py").write_text(_HOOK)
    path = os.pathsep.join(filter(None, [str(hook), str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "XDL_TEST_MARKS": str(marks),
           "XDL_TEST_SIGINT_AT_IMPORT": str(sigint_at_import)}
    p = subprocess.Popen([sys.executable, "-m", "xdl", *map(str, args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    return p, marks


def wait_for(marks, name: str, p: subprocess.Popen, deadline_s: float = 300) -> str:
    """Waits (generously: a loaded machine starts slowly) until the process leaves marker `name`."""
    deadline = time.monotonic() + deadline_s
    while not (marks / name).exists():
        assert p.poll() is None, f"ended before {name!r}: " + p.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {name!r} marker after {deadline_s} s"
        time.sleep(0.01)
    return (marks / name).read_text()


def endless_model(tmp_path) -> list:
    """`xdl verify` of one artifact whose model never ends, under a 600 s limit: only Ctrl-C ends it."""
    from test_bad_inputs import c_endless_loop

    args = c_endless_loop(tmp_path)
    args[1] = Path(args[1]) / "mlp" / "torch"  # the endless one alone: its run is the first model run
    args[args.index("--timeout") + 1] = "600"
    return args


def _ended_by_ctrl_c(p: subprocess.Popen) -> None:
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, f"exit {p.returncode}: {err[-3000:]}"
    assert err.splitlines()[-1].startswith("xdl: interrupted"), err[-3000:]
    assert "Traceback" not in err and "bug in xdl" not in err, err[-3000:]


def test_ctrl_c_at_every_stage_of_start_up_ends_in_exit_130(tmp_path):
    """Before: a Ctrl-C while onnxruntime's native module initialised became "unexpected ImportError:
    initialization failed ... bug in xdl" (exit 2); inside onnx's, a segmentation fault; during
    `import xdl.cli`, Python's traceback. Now, sent as any import starts (from the first one after
    xdl took over Ctrl-C, through onnx, onnxruntime and numpy, to the model run), it ends the same way."""
    args = endless_model(tmp_path)
    p, marks = observed(tmp_path, args)
    imports = int(wait_for(marks, "model_run", p))
    p.send_signal(signal.SIGINT)
    _ended_by_ctrl_c(p)
    assert imports > 100  # the model run comes after the heavy imports: the steps below cover them
    for k in sorted({1, 2, 3, *range(5, imports + 1, max(1, imports // 40)), imports}):
        p, marks = observed(tmp_path, args, sigint_at_import=k)
        _ended_by_ctrl_c(p)
        assert (marks / "sent").exists(), k


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.5])
def test_ctrl_c_a_moment_after_xdl_started_ends_in_exit_130(tmp_path, delay):
    """The issue's report, timed: Ctrl-C 0.3 s after the start gave exit 2. Timed from xdl's own
    start (the process's first import after xdl took over Ctrl-C), not from the fork: the delay
    samples a moment of start-up whatever the machine's load; any moment must end the same way."""
    p, marks = observed(tmp_path, endless_model(tmp_path))
    wait_for(marks, "started", p)
    time.sleep(delay)  # not a wait for readiness: the moment sampled
    p.send_signal(signal.SIGINT)
    _ended_by_ctrl_c(p)


# -- Ctrl-C to a launcher's pid alone ------------------------------------------------------------------

def _launch(runs, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xdl", "train", "mlp", "--framework", "torch", "--workers", "2",
                             *args, "--runs", str(runs)], cwd=ROOT, env=_clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _training_started(runs, p: subprocess.Popen) -> int:
    """Waits until rank 0 trains (its staging folder, named after its pid, exists): the readiness
    signal. Returns rank 0's pid."""
    deadline = time.monotonic() + 300
    while not list((runs / "mlp").glob(".torch.tmp-*")):
        assert p.poll() is None, p.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.05)
    return int(next((runs / "mlp").glob(".torch.tmp-*")).name.rsplit("-", 1)[1])


def _gone(pid: int, within_s: float = 60) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_to_the_launcher_alone_stops_the_workers_and_publishes_nothing(tmp_path):
    """Before: SIGINT to the launcher's pid (not its group) reached neither torchrun nor the
    workers, which went on to publish while the launcher said the run was not written. Now the
    launcher passes it on, and has decided to abort before it does: nothing is published."""
    runs = tmp_path / "runs"
    previous = runs / "mlp" / "torch"
    previous.mkdir(parents=True)
    (previous / "metrics.json").write_text('{"previous": true}')
    p = _launch(runs, "--epochs", "200")
    rank_0 = _training_started(runs, p)
    os.kill(p.pid, signal.SIGINT)  # the pid alone: what `kill -INT PID` or a supervisor sends
    out, err = p.communicate(timeout=240)
    assert p.returncode == 130, err[-3000:]
    assert _gone(rank_0), "rank 0 trains on after its launcher ended"
    assert "xdl: interrupted" in err and "Traceback" not in err, err[-3000:]
    assert json.loads((previous / "metrics.json").read_text()) == {"previous": True}  # as it was
    assert sorted(x.name for x in (runs / "mlp").iterdir() if not x.name.endswith(".lock")) == ["torch"]


def test_what_an_interrupted_launcher_says_matches_what_was_published(tmp_path):
    """A quick run interrupted (pid alone) as it trains: whichever comes first, rank 0's decision to
    publish or the launcher's to abort, the launcher's last line says which, and the disk agrees."""
    runs = tmp_path / "runs"
    p = _launch(runs, "--quick")
    _training_started(runs, p)
    os.kill(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=240)
    assert p.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    run = runs / "mlp" / "torch"
    if "had published the new run" in err:
        assert json.loads((run / "metrics.json").read_text())["distributed"]["processes"] == 2
    else:
        assert "the one in progress was not written" in err, err[-3000:]
        assert not run.exists()
    assert not [x for x in (runs / "mlp").iterdir() if ".tmp-" in x.name]


def test_rank_0_publishes_only_if_the_launcher_has_not_aborted(tmp_path, monkeypatch):
    """The decision itself: one file created exclusively; the second comer reads the first's."""
    from xdl import distributed

    monkeypatch.setenv(distributed.ERRORS_ENV, str(tmp_path))
    assert distributed._decide(distributed.ABORT, folder=tmp_path) == "abort"
    assert distributed._decide(distributed.PUBLISH, "sha") == "abort"  # rank 0 must not publish
    (tmp_path / "decision").unlink()
    assert distributed._decide(distributed.PUBLISH, "sha") == "publish sha"
    assert distributed._decide(distributed.ABORT, folder=tmp_path) == "publish sha"  # the launcher learns it
