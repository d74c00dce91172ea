"""One PyTorch thread or two? Small models' training timed with each, on a quiet machine and under load.

    python benchmarks/threads.py              # everything, added as a run to benchmarks/threads.json, .md (< 10 min)
    python benchmarks/threads.py --only NAME  # some workloads, printed (nothing written)
    python benchmarks/threads.py --render     # rewrite threads.md from threads.json

The workloads: one epoch of tutorial 04's PyTorch GRU loop (tutorials/04_recurrent.py), and
`xdl train` (xdl.training.train, what `xdl train` and `xdl all` call) on a few small zoo models
for a fixed number of epochs on their full embedded data, PyTorch twins and one Keras twin (TF's
intra-op threads). Each (workload, threads, condition) runs in a process of its own, because a
framework's thread pool is fixed once it starts; that process sets the threads before any work,
then runs the workload three times (fewer where the runs so far took over ENOUGH_S, as two threads
under load do: the JSON lists every run), and the median is reported (the first run included: a
learner's first epoch pays it too).

Two conditions: "quiet", as quiet as the machine gets (other people's processes are not ours to
stop: each measurement records the load average and the CPU that processes other than ours used
while it ran), and "loaded", with a busy loop of this script's pinned to one core for the whole
condition, standing in for a second job, a browser or a test run beside a lesson. On a shared
machine one run is one hour's weather: each run is added to threads.json beside the earlier ones
(delete the file to start afresh), and threads.md shows them all.

A script, not an `xdl` command: it imports torch and tensorflow directly (pyproject.toml's layers
allow that only the back ends and the models).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
JSON = HERE / "threads.json"
MARKDOWN = HERE / "threads.md"
REPEATS = 3
THREADS = (1, 2)
ENOUGH_S = 45  # no further repeat after this much: a two-thread run under load takes up to 40 times as long as quiet
TIMEOUT_S = 300  # one child


# -- the workloads, run in a child process ------------------------------------------------------


@functools.cache
def _mnist1d():
    from xdl import data

    return data.load("mnist1d", seed=0, validation_split=0.1)


def _gru_epoch() -> None:
    """One epoch of tutorial 04's PyTorch GRU, as the lesson trains it (its code, not imported:
    a tutorial is a notebook, not a module); the data made beforehand, as the lesson's earlier cell does."""
    import torch

    from xdl.models.gru import torch as gru_torch
    from xdl.spec import registry

    digits1d = _mnist1d()
    torch.manual_seed(0)
    model = gru_torch.build(registry.get("gru"))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(digits1d.x_train), torch.from_numpy(digits1d.y_train)
    model.train()
    for idx in torch.randperm(len(x)).split(128):
        loss = loss_fn(model(x[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        model(torch.from_numpy(digits1d.x_val)).argmax(1)


def _train(model: str, framework: str):
    def run() -> None:
        from xdl import training

        with tempfile.TemporaryDirectory() as runs:
            training.train(model, framework, quick=True, runs=runs, show_progress=False)
    return run


# name -> (framework whose threads are set, what the workload is, the callable, what it does untimed first)
WORKLOADS = {
    "tutorial-04-gru-epoch": ("torch", "tutorial 04: one epoch of the PyTorch GRU loop", _gru_epoch, _mnist1d),
    "train-mlp-torch": ("torch", "xdl train mlp --framework torch --quick", _train("mlp", "torch"), None),
    "train-cnn-torch": ("torch", "xdl train cnn --framework torch --quick", _train("cnn", "torch"), None),
    "train-gru-keras": ("keras", "xdl train gru --framework keras --quick", _train("gru", "keras"), None),
}


def _set_threads(framework: str, threads: int) -> None:
    """The setting under test, before the framework does any work (both refuse a change later)."""
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)


def child(name: str, threads: int) -> dict:
    framework, _, work, prepare = WORKLOADS[name]
    _set_threads(framework, threads)
    if prepare:
        prepare()
    seconds = []
    while len(seconds) < REPEATS and sum(seconds) < ENOUGH_S:
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds}


# -- the parent: conditions, children, what else the machine was doing ---------------------------


def _busy_cpu_s() -> float:
    """Seconds of CPU every process on the machine has used (busy jiffies in /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _process_cpu_s(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _busy_loop() -> subprocess.Popen:
    """The load: a process spinning on core 0 until stopped."""
    code = "import os\nos.sched_setaffinity(0, {0})\nwhile True:\n    pass\n"
    return subprocess.Popen([sys.executable, "-c", code])


def _chosen(name: str, threads: int) -> dict:
    """The environment that fixes PyTorch's threads for the whole child, whatever a library it
    imports would set."""
    return {"OMP_NUM_THREADS": str(threads)} if WORKLOADS[name][0] == "torch" else {}


def measure(name: str, threads: int, load: subprocess.Popen | None) -> dict:
    """One child: its repeats, and how busy the rest of the machine was meanwhile."""
    before = (time.perf_counter(), _busy_cpu_s(), os.times(), load and _process_cpu_s(load.pid), os.getloadavg()[0])
    row = {"workload": name, "threads": threads, "condition": "loaded" if load else "quiet"}
    try:
        r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name, str(threads)],
                           capture_output=True, text=True, timeout=TIMEOUT_S,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **_chosen(name, threads)})
    except subprocess.TimeoutExpired:
        r = None
    after = (time.perf_counter(), _busy_cpu_s(), os.times(), load and _process_cpu_s(load.pid), os.getloadavg()[0])
    wall = after[0] - before[0]
    ours = (after[2].children_user + after[2].children_system) - (before[2].children_user + before[2].children_system)
    ours += (after[3] - before[3]) if load else 0.0
    row["others_cores"] = round(max(0.0, (after[1] - before[1]) - ours) / wall, 2)  # cores used by others
    row["loadavg_1min"] = [round(before[4], 2), round(after[4], 2)]
    row["process_s"] = round(wall, 1)
    if r is None:
        row["error"] = f"no answer in {TIMEOUT_S} s"
    elif r.returncode != 0:
        row["error"] = ([line for line in r.stderr.splitlines() if line.strip()] or ["no output"])[-1][:300]
    else:
        row["seconds"] = [round(s, 3) for s in json.loads(r.stdout.strip().splitlines()[-1])["seconds"]]
        row["median_s"] = round(statistics.median(row["seconds"]), 3)
    return row


def run(names: list[str], progress=None) -> dict:
    rows = []
    for condition in ("quiet", "loaded"):
        load = _busy_loop() if condition == "loaded" else None
        try:
            for i, name in enumerate(names):
                for threads in (THREADS if i % 2 == 0 else THREADS[::-1]):  # alternate the order: drift hits both
                    if progress:
                        progress(f"{condition} {name} threads={threads}")
                    rows.append(measure(name, threads, load))
                    if progress:
                        progress(f"  -> {rows[-1].get('median_s', rows[-1].get('error'))}")
        finally:
            if load:
                load.terminate()
                load.wait()
    return {"environment": _environment(), "repeats": REPEATS, "rows": rows,
            "workloads": {name: {"framework": WORKLOADS[name][0], "what": WORKLOADS[name][1]} for name in names}}


def _environment() -> dict:
    import torch

    from xdl import versions

    return {"machine": platform.machine(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "torch_default_threads": torch.get_num_threads(),
            "versions": {name: versions.installed(name) for name in ("torch", "tensorflow", "keras")},
            "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


# -- rendering ----------------------------------------------------------------------------------


def _cell(row: dict | None) -> str:
    if row is None:
        return "-"
    if "error" in row:
        return f"failed: {row['error']}"
    runs = len(row["seconds"])
    return f"{row['median_s']:.2f}" + ("" if runs == REPEATS else f" ({runs} repeat{'s' if runs > 1 else ''})")


def render(runs: list[dict]) -> str:
    """threads.md: the Markdown tables of threads.json's runs, the latest first."""
    env = runs[-1]["environment"]
    lines = [
        f"Training time (s, median of {runs[-1]['repeats']} repeats in one process per setting) with 1 and 2 "
        f"intra-op threads, on {env['cpu_count']} {env['machine']} cores (PyTorch's default here: "
        f"{env['torch_default_threads']}), by `python benchmarks/threads.py`. Loaded: a busy loop pinned to one "
        "core. Others: the cores that processes other than the benchmark's used meanwhile, per setting "
        "(1 thread, 2 threads): 0 is quiet.",
    ]
    for number, result in reversed(list(enumerate(runs, 1))):
        lines += ["", f"## Run {number}, started {result['environment']['started']}", ""] + _table(result)
    return "\n".join(lines)


def _table(result: dict) -> list[str]:
    rows = {(r["workload"], r["threads"], r["condition"]): r for r in result["rows"]}
    env = result["environment"]
    lines = [
        "| workload | framework | quiet, 1 thread | quiet, 2 threads | loaded, 1 thread | loaded, 2 threads "
        "| others (cores), quiet | others (cores), loaded |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, w in result["workloads"].items():
        cells = [_cell(rows.get((name, t, c))) for c in ("quiet", "loaded") for t in THREADS]
        others = [", ".join(f"{rows[(name, t, c)]['others_cores']:.2f}" for t in THREADS if (name, t, c) in rows)
                  for c in ("quiet", "loaded")]
        lines.append(f"| {w['what']} | {w['framework']} | " + " | ".join(cells) + f" | {others[0]} | {others[1]} |")
    loads = [v for r in result["rows"] for v in r["loadavg_1min"]]
    quiet = [r["others_cores"] for r in result["rows"] if r["condition"] == "quiet"]
    lines += ["", f"How quiet \"quiet\" was: other processes used {min(quiet):.2f} to {max(quiet):.2f} of the "
              f"{env['cpu_count']} cores while a quiet setting ran; the 1-minute load average over all measurements "
              f"was {min(loads):.2f} to {max(loads):.2f} (the busy loop adds about 1). Every repeat's time, the load "
              "averages and process times: benchmarks/threads.json."]
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=list(WORKLOADS), metavar="NAME", help="these workloads; print, "
                   "write nothing")
    p.add_argument("--child", nargs=2, metavar=("NAME", "THREADS"), help=argparse.SUPPRESS)  # one setting, as JSON
    p.add_argument("--render", action="store_true", help="rewrite threads.md from threads.json")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    runs = json.loads(JSON.read_text())["runs"] if JSON.exists() else []
    if args.render:
        MARKDOWN.write_text(render(runs) + "\n")
        return 0
    result = run(args.only or list(WORKLOADS), progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.only:
        print(render([result]))
        return 0
    runs.append(result)
    JSON.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    MARKDOWN.write_text(render(runs) + "\n")
    print(f"wrote {JSON} and {MARKDOWN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
