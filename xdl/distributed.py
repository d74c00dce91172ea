"""Distributed training: one model trained by several workers, through the frameworks' own engines
(torchrun + DistributedDataParallel; tf.distribute), and published like a single-process run.

Who runs what (docs/distributed.md):

- `xdl train MODEL --framework torch --workers N` starts torchrun, which starts N processes that
  each run `xdl train MODEL --framework torch` again; a process torchrun started
  (TORCHELASTIC_RUN_ID in its environment, not merely RANK) is a worker and trains its shard. On
  several machines, torchrun is started by the user on each with `--nnodes` and a rendezvous
  endpoint, running the same command.
- `xdl train MODEL --framework keras --workers N` trains in this process with MirroredStrategy
  over N devices. With TF_CONFIG in the environment, `xdl train MODEL --framework keras` (one per
  machine) starts one worker of a MultiWorkerMirroredStrategy cluster as its child process and
  watches it.

Every worker loads only its shard of the training set (xdl.data.Shard) and takes B / N samples per
step, so that a step of N workers is a step of one process on the same B samples (the tests prove
the weights agree). Rank 0 scores the test set and publishes runs/<model>/<framework>/ whole; a
worker that dies or a Ctrl-C leaves the previous run as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from xdl import artifacts, backends, limits, models, training
from xdl.data import Shard, for_model
from xdl.errors import EXIT_INTERRUPTED, InputError, WorkerLost, XdlError
from xdl.spec import registry, tasks

# The folder where a worker that xdl started leaves word for its launcher: "joined" once it is in
# the group, and its error (rank-N.json), so that the launcher can say in one line what went
# wrong instead of the engine's report.
ERRORS_ENV = "XDL_WORKER_ERRORS"


# What torchrun sets in every worker it starts, and nothing else does. RANK, WORLD_SIZE and
# MASTER_ADDR alone are no proof: cluster nodes and schedulers leave them in every shell, and a
# plain `xdl train` that took them for torchrun's would wait for peers that never come.
TORCHRUN_ENV = "TORCHELASTIC_RUN_ID"


def started_by_engine(framework: str) -> bool:
    """Whether this process is a worker of a run the engine set up: one torchrun started, or (Keras)
    TF_CONFIG, TensorFlow's own and only description of a cluster."""
    if framework == "torch":
        return TORCHRUN_ENV in os.environ
    return bool(os.environ.get("TF_CONFIG"))


@dataclass(frozen=True)
class Nodes:
    """Several machines for torchrun: this one is `rank` of `count`, meeting at `rendezvous`
    (HOST:PORT, served by node 0)."""

    count: int
    rank: int
    rendezvous: str


def train(model: str, framework: str, *, workers: int | None, nodes: Nodes | None = None, epochs: int | None = None,
          dataset: str | None = None, data_dir=None, quick: bool = False, runs="runs",
          show_progress: bool = True) -> dict | None:
    """Trains one twin on several workers (per machine; `nodes` for several machines with torch).
    Returns the run's metrics, or None where another machine's rank 0 reports the run."""
    spec = registry.get(model)
    if spec.recipe.phases:
        raise InputError(f"{model} trains in {len(spec.recipe.phases)} phases on different data sets; distributed "
                         f"training takes single-phase recipes: train it without --workers")
    if isinstance(tasks.get(spec.task), tasks.OwnLoop):
        raise InputError(f"{model} trains in its own loop ({spec.task}), which runs in one process; train it "
                         f"without --workers")
    if nodes is None and workers is not None and workers < 2:
        raise InputError(f"--workers must be at least 2, got {workers}; without it, training runs in one process")
    parts = (workers or 1) * (nodes.count if nodes else 1)
    if spec.recipe.batch_size % parts:
        raise InputError(f"{model}'s batch of {spec.recipe.batch_size} does not split into {parts} equal parts; "
                         f"use a number of workers that divides it")
    options = dict(epochs=epochs, dataset=dataset, data_dir=data_dir, quick=quick, runs=runs)
    if nodes is not None and framework != "torch":
        raise InputError("--nodes is torchrun's; a Keras cluster is described by TF_CONFIG (docs/distributed.md)")
    if framework == "torch" and not started_by_engine("torch"):
        # torchrun is torch's: without torch that is one line, exit 3, not "a worker ended"
        backends.load(framework)
        return _launch_torchrun(model, workers, nodes, **options)
    if framework == "keras" and started_by_engine("keras"):
        if workers:
            raise InputError("TF_CONFIG describes the cluster; --workers is for one machine's devices: pass one, not both")
        if ERRORS_ENV not in os.environ:  # this process supervises; a child of its own is the worker
            return _launch_keras_worker(model, **options)
    return work(model, framework, workers=workers, show_progress=show_progress, **options)


def work(model: str, framework: str, *, workers: int | None, epochs, dataset, data_dir, quick, runs,
         show_progress: bool = True) -> dict | None:
    """What every worker does: join the engine's group, load its shard, train, and (rank 0) publish."""
    spec = registry.get(model)
    fw, engine = backends.load(framework), backends.distributed(framework)
    dataset = dataset or spec.recipe.dataset
    if epochs is not None and (type(epochs) is not int or epochs < 1):
        raise InputError(f"--epochs must be at least 1, got {epochs}")
    group = engine.join(workers)
    _tell_launcher("joined")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # torchrun ends the others this way when one fails
    shard = Shard(group.rank, group.size) if group.size > 1 else None  # one process: every row
    data = for_model.load(spec, dataset, data_dir, quick, shard=shard)
    net = engine.build(spec, group, models.twin(model, framework).build)
    if fw.count_params(net) != spec.expectations.param_count:
        raise XdlError(f"{model}/{framework} has {fw.count_params(net)} parameters, "
                       f"spec says {spec.expectations.param_count}")
    n = epochs or (spec.recipe.quick_epochs if quick else spec.recipe.epochs)
    out = training.run_dir(runs, model, framework)
    # Rank 0 builds the run in a staging folder and publishes it whole; the others keep only
    # their checkpoints, in a folder of their own that goes when they end.
    staged = artifacts.staging(out) if group.rank == 0 else Path(tempfile.mkdtemp(prefix="xdl-worker-"))
    try:
        start = time.perf_counter()
        history = engine.train(net, spec, data, group, epochs=n, checkpoint=staged / f"best.{fw.WEIGHTS_FILE}",
                               show_progress=show_progress)
        seconds = time.perf_counter() - start
        metrics = None
        if group.rank == 0:
            shards = len(data.x_train) * group.size
            spread = {"engine": group.engine, "processes": group.size, "replicas": group.replicas,
                      "samples_per_second": round(shards * len(history["loss"]) / seconds, 1)}
            metrics = training.record(staged, spec, framework, net, data, history, seconds, dataset=dataset,
                                      data_dir=data_dir, quick=quick,
                                      extra={"train_samples": shards, "distributed": spread})
            if not _decide(PUBLISH, artifacts.sha256_file(staged / "metrics.json")).startswith(PUBLISH):
                raise KeyboardInterrupt  # the launcher was interrupted first: nothing is published after that
            artifacts.publish(staged, out)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    engine.leave(group)  # only after a run that went well: waits for every worker, then closes
    return metrics


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that remove staging folders


def _command(model: str, framework: str, *, epochs, dataset, data_dir, quick, runs) -> list[str]:
    """The `xdl train` arguments a worker runs with: this command's, less the launcher's own."""
    command = ["-m", "xdl", "train", model, "--framework", framework, "--runs", str(runs)]
    for flag, value in (("--epochs", epochs), ("--dataset", dataset), ("--data-dir", data_dir)):
        if value is not None:
            command += [flag, str(value)]
    return command + (["--quick"] if quick else [])


def _launch_torchrun(model: str, workers: int | None, nodes: Nodes | None, **options) -> dict | None:
    """Runs `torchrun ... --nproc-per-node N -m xdl train MODEL --framework torch ...` (standalone on
    one machine; with `nodes`, one machine of several) and returns rank 0's metrics (None on
    another machine). The workers' output passes through; torchrun's own, and its report of a
    failure, is kept in a log file that the error names."""
    if workers is None:
        raise InputError("distributed PyTorch training needs --workers N (or start xdl under torchrun)")
    if nodes is None:
        where = ["--standalone", "--nnodes", "1"]
    else:
        _check_rendezvous(nodes)
        where = ["--nnodes", str(nodes.count), "--node-rank", str(nodes.rank), "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", nodes.rendezvous, "--rdzv-conf", f"join_timeout={limits.join_timeout():g}"]
    command = [sys.executable, "-m", "torch.distributed.run", *where, "--nproc-per-node", str(workers),
               "--max-restarts", "0", *_command(model, "torch", **options)]
    reports = nodes is None or nodes.rank == 0
    return _supervise(command, training.run_dir(options["runs"], model, "torch"), reports, engine="torchrun")


def _launch_keras_worker(model: str, **options) -> dict | None:
    """Runs this machine's MultiWorkerMirroredStrategy worker as a child and watches it: until every
    worker has started, TensorFlow waits inside C++ holding the interpreter (no signal handler or
    Python thread runs in that process), so the deadline for the others to join is kept here."""
    workers, rank = tf_config()
    host, port = _host_port(workers[rank], "TF_CONFIG's worker")
    _refuse_port_in_use(host, port, f"this worker's address {workers[rank]} (TF_CONFIG)",
                        "give it a free port in TF_CONFIG")
    others = ", ".join(w for i, w in enumerate(workers) if i != rank)
    if others:  # a TF_CONFIG left in the environment is the only reason a plain run would wait: say so
        print(f"xdl: worker {rank} of {len(workers)} (TF_CONFIG): waiting up to {limits.join_timeout():g} s for "
              f"{others}; unset TF_CONFIG to train in this process alone", file=sys.stderr, flush=True)
    command = [sys.executable, *_command(model, "keras", **options)]
    return _supervise(command, training.run_dir(options["runs"], model, "keras"), rank == 0, engine="TensorFlow",
                      join=f"the other workers ({others}) did not all "
                           f"join within {limits.join_timeout():g} s; start every worker with the same TF_CONFIG "
                           f"cluster, check the addresses and the firewall")


def _supervise(command: list[str], out: Path, reports: bool, *, engine: str, join: str | None = None) -> dict | None:
    """Runs the worker(s) `command` starts and turns the outcome into rank 0's metrics or one line:
    a worker's own error (it leaves it in the folder ERRORS_ENV names), Ctrl-C, a worker that
    died, or (`join`: the line to say) a worker that did not join within XDL_JOIN_TIMEOUT."""
    errors = Path(tempfile.mkdtemp(prefix="xdl-workers-"))
    log = Path(tempfile.mkstemp(prefix=f"xdl-{engine.lower()}-", suffix=".log")[1])
    env = {**os.environ, ERRORS_ENV: str(errors), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    relay = threading.Thread(target=_relay, args=(process.stderr, log), daemon=True)
    relay.start()
    deadline = time.monotonic() + limits.join_timeout()
    try:
        while process.poll() is None:
            if join and not (errors / "joined").exists() and time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise WorkerLost(join)
            time.sleep(0.1)
        code = process.returncode
        relay.join(timeout=10)
        if code == 0:
            log.unlink(missing_ok=True)
            return json.loads((out / "metrics.json").read_text()) if reports else None
        reported = sorted(errors.glob("rank-*.json"), key=lambda p: int(p.stem.split("-")[1]))
        if reported:
            first = json.loads(reported[0].read_text())
            if first["code"] == EXIT_INTERRUPTED:
                raise KeyboardInterrupt
            error = XdlError(f"worker {reported[0].stem.split('-')[1]}: {first['message']}")
            error.exit_code = first["code"]
            raise error
        raise WorkerLost(f"{_root_cause(log) or f'a worker ended with exit code {code}'}; nothing was published "
                         f"({engine}'s report: {log})")
    except KeyboardInterrupt:
        _decide(ABORT, folder=errors)  # first: from here on rank 0 cannot publish
        _stop(process)
        decision = (errors / "decision").read_text().split()  # complete now that the workers have ended
        published = decision[:1] == [PUBLISH] and (out / "metrics.json").is_file() and \
            decision[1:] == [artifacts.sha256_file(out / "metrics.json")]
        if published:  # rank 0 had decided to publish before the Ctrl-C, and did
            error = XdlError(f"interrupted after rank 0 had published the new run: {out} holds it, whole")
            error.exit_code = EXIT_INTERRUPTED
            raise error from None
        raise
    finally:
        artifacts.remove_stale(out)  # staging folders of workers killed before their cleanup
        shutil.rmtree(errors, ignore_errors=True)


_TORCHRUN_LINE = re.compile(r"^([WEI]\d{4} \d\d:\d\d:\d\d|\*{5,}|Setting OMP_NUM_THREADS)")


def _relay(stream, log: Path) -> None:
    """Passes the workers' lines to our stderr and keeps torchrun's own (its banner, its log lines,
    the traceback of its failure report) in `log`."""
    in_report = False
    with open(log, "w") as kept:
        for line in stream:
            in_report = in_report or line.startswith("Traceback (most recent call last)")
            if in_report or _TORCHRUN_LINE.match(line):
                kept.write(line)
                kept.flush()
            else:
                sys.stderr.write(line)
                sys.stderr.flush()


def _root_cause(log: Path) -> str | None:
    """torchrun's "Root Cause" of a failed run as one phrase: which rank ended and how."""
    text = log.read_text(errors="replace") if log.exists() else ""
    cause = text.split("Root Cause", 1)[-1]
    rank = re.search(r"rank\s*:\s*(\d+)", cause)
    exitcode = re.search(r"exitcode\s*:\s*(-?\d+)[^\n]*?(\((SIG\w+)\))?\s*$", cause, re.M)
    if not rank or not exitcode:
        return None
    how = exitcode.group(3) or f"exit code {exitcode.group(1)}"
    return f"worker {rank.group(1)} died ({how})"


def tf_config() -> tuple[list[str], int]:
    """TF_CONFIG's workers ("host:port" each) and this one's index; one line if it is not one."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        workers, index = config["cluster"]["worker"], config["task"]["index"]
        if not isinstance(workers, list) or not workers or not all(isinstance(w, str) for w in workers):
            raise ValueError("cluster.worker is not a list of host:port")
        if config["task"].get("type", "worker") != "worker" or type(index) is not int or not 0 <= index < len(workers):
            raise ValueError("task is not one of the cluster's workers")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = f"not JSON: {exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else \
            f"{type(exc).__name__} {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputError(f"TF_CONFIG is not a cluster description ({reason}); see docs/distributed.md") from None
    for worker in workers:
        _host_port(worker, "TF_CONFIG's cluster.worker")
    return workers, index


def _host_port(endpoint: str, what: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT, an IPv6 host in brackets ([::1]:29400); one line if it is not one."""
    host, colon, port = endpoint.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:  # an IPv6 address without brackets: which colon ends the host is a guess
        raise InputError(f"{what} {endpoint!r}: write an IPv6 address in brackets, e.g. [{host}]:{port}")
    if not colon or not host or not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{what} {endpoint!r} is not HOST:PORT with a port from 1 to 65535 (e.g. 10.0.0.1:29400)")
    return host, int(port)


def _refuse_port_in_use(host: str, port: int, what: str, fix: str) -> None:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would: TIME_WAIT is no owner
            s.bind(("" if host in ("", "localhost", "0.0.0.0") else host, port))
    except socket.gaierror as exc:
        raise InputError(f"{what}: cannot resolve {host!r} ({exc.strerror}); check the host name") from None
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(f"{what}: {host} is not an address of this machine; each machine runs the worker "
                             f"whose address is its own") from None
        raise InputError(f"{what}: port {port} is in use on this machine ({exc.strerror}); {fix}") from None


def _check_rendezvous(nodes: Nodes) -> None:
    """One line before torchrun's own reports: node 0 must be able to serve the rendezvous port,
    the others must reach it (they try for XDL_JOIN_TIMEOUT seconds: node 0 may start later)."""
    host, port = _host_port(nodes.rendezvous, "--rendezvous")
    if not 0 <= nodes.rank < nodes.count:
        raise InputError(f"--node-rank {nodes.rank} is not one of 0..{nodes.count - 1} (--nodes {nodes.count})")
    if nodes.rank == 0:
        _refuse_port_in_use("", port, f"--rendezvous {nodes.rendezvous}",
                            "node 0 serves the rendezvous there: pick a free port for --rendezvous on every node")
        return
    try:  # a name that does not resolve now is a typo far more often than a slow DNS: say it at once
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError(f"--rendezvous {nodes.rendezvous}: cannot resolve {host!r} ({exc.strerror}); "
                         f"check node 0's address") from None
    deadline = time.monotonic() + limits.join_timeout()
    while True:
        try:
            socket.create_connection((host, port), timeout=5).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise WorkerLost(f"cannot reach the rendezvous {nodes.rendezvous} ({exc.strerror or exc}) within "
                                 f"{limits.join_timeout():g} s; start node 0 first, check the address and the firewall") from None
            time.sleep(1)


def _stop(process: subprocess.Popen) -> None:
    """Ends the workers after a Ctrl-C. From a terminal it reached them too (torchrun passes it on
    to its workers, which run in sessions of their own) and they are ending; one sent to this
    process alone is passed on here."""
    try:
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        process.kill()
        process.wait()


# Who decides first, rank 0 to publish or an interrupted launcher to abort, in one file created
# exclusively in the folder the launcher shares with its workers: whichever creates it has decided,
# the other reads what was decided. Without it, a Ctrl-C to the launcher alone let rank 0 publish
# while the launcher said the run was not written.
PUBLISH, ABORT = "publish", "abort"


def _decide(what: str, detail: str = "", folder: Path | None = None) -> str:
    """Records `what` (with `detail`) unless the other side decided first; returns the decision.
    A worker without an xdl launcher decides alone."""
    folder = folder or (Path(os.environ[ERRORS_ENV]) if os.environ.get(ERRORS_ENV) else None)
    if folder is None or not folder.is_dir():
        return f"{what} {detail}".strip()
    try:
        fd = os.open(folder / "decision", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(50):  # written right after it was created: wait for the words
            text = (folder / "decision").read_text()
            if text:
                return text
            time.sleep(0.01)
        return ABORT
    with os.fdopen(fd, "w") as f:
        f.write(f"{what} {detail}".strip())
    return f"{what} {detail}".strip()


def reports_to_launcher() -> bool:
    """Whether this process is a worker that xdl started (its launcher reports the run)."""
    return ERRORS_ENV in os.environ


def report_error(code: int, message: str) -> bool:
    """Called by the CLI in a worker that xdl started: leaves the error where the launcher reads
    it; False where there is no launcher to read it (the worker must say it itself)."""
    rank = os.environ.get("RANK", "0")
    if os.environ.get("TF_CONFIG"):
        try:
            rank = tf_config()[1]
        except InputError:
            pass  # the launcher checked it; only a hand-set environment gets here
    rank = int(rank) if str(rank).isdigit() else 0  # a hand-set RANK may be anything
    return _tell_launcher(f"rank-{rank}.json", json.dumps({"code": code, "message": message}))


def _tell_launcher(name: str, text: str = "") -> bool:
    folder = os.environ.get(ERRORS_ENV)
    if not folder or not Path(folder).is_dir():
        return False
    (Path(folder) / name).write_text(text)
    return True


