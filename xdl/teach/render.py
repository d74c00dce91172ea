"""Runs a tutorial as a notebook and writes the executed notebook, its run time recorded in it.

A tutorial is a plain Python file in jupytext's percent format: `python tutorials/01_first_network.py`
runs it, Jupyter (with jupytext) opens it as a notebook, and this module reads it with jupytext and
executes it in a Jupyter kernel with nbclient:

    # %% [markdown]          a prose cell: the comment lines are MyST Markdown
    # %% keras: training     a code cell titled "keras: ..." and the "torch: ..." cell right
    # %% torch: training     after it are shown side by side on the site

    python -m xdl.teach.render tutorials/01_first_network.py tutorials/notebooks   (or: xdl tutorials)

It writes <out>/<name>.ipynb with every output (figures embedded) and, in its metadata under "xdl",
how long it ran, when, on how many cores, and whether in quick mode. The course's notebooks,
committed in tutorials/notebooks/, are full runs: `xdl site` builds the site from them without running
anything. With $XDL_TUTORIAL_QUICK set (the test suite's renders) the tutorials train for a token
number of epochs (xdl.teach.helpers.lesson_size) and the notebook says so at its top.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xdl.artifacts import write_text
from xdl.errors import OPTIONAL, EnvironmentProblem, InputError, install_advice
from xdl.teach.helpers import quick_mode

CELL_TIMEOUT = 900  # seconds; the longest tutorial cell trains for about a minute
# What running a tutorial takes beyond the core: the notebook tools, both frameworks, plots and
# scikit-learn's metrics and digits. Without one, every tutorial fails in its first cells.
NEEDS = ("jupytext", "nbclient", "ipykernel", "tensorflow", "keras", "torch", "safetensors", "matplotlib",
         "sklearn")


# Above the title of a notebook run in quick mode (xdl.teach.helpers.quick_mode): a reader must not
# take its numbers for the lesson's.
QUICK_NOTE = ("**Run in quick mode for the test suite:** fewer epochs and steps than the text says; "
              "the numbers are not the lesson's.")


def note_quick_mode(nb) -> None:
    """In quick mode, puts QUICK_NOTE in a cell of its own at the top of the notebook."""
    import nbformat

    if quick_mode():
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(QUICK_NOTE))


def execute(nb, cwd: Path) -> str:
    """Runs the notebook's cells in order in a fresh kernel; returns "" or the error's last line."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # The kernel's own stderr carries TensorFlow's C++ start-up lines and jupyter_client's
    # notes, never the tutorial's errors (those come back as the cell's error output).
    quiet = {} if os.environ.get("XDL_DEBUG", "") not in ("", "0") else {"stderr": subprocess.DEVNULL}
    try:
        # capture_fd_output off: what C++ libraries write to the process's stderr (TensorFlow's
        # oneDNN and grappler notes) stays out of the cells; Python's print() still lands there.
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                       extra_arguments=["--IPKernelApp.capture_fd_output=False"]).execute(**quiet)
    except CellExecutionError as exc:  # the tutorial's own error: the notebook shows it in its cell
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        return lines[-1] if lines else type(exc).__name__
    return ""


def render(path: Path, out_dir: Path) -> tuple[Path, float, str]:
    """Executes one tutorial and writes out_dir/<name>.ipynb; returns (that notebook, seconds, the
    failing cell's error in one line or "")."""
    import jupytext
    import nbformat

    path, out_dir = Path(path).resolve(), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    nb = jupytext.read(path)
    note_quick_mode(nb)
    # The figures a tutorial saves as files (helpers.save_figure) are shown in its cells too: the
    # notebook carries them, the files are not kept.
    with tempfile.TemporaryDirectory(prefix="xdl-figures-") as figures:
        os.environ["XDL_TUTORIAL_OUT"] = figures  # the kernel inherits it
        error = execute(nb, path.parent)
    seconds = time.perf_counter() - start
    nb.metadata["xdl"] = {"seconds": round(seconds, 1), "cores": os.cpu_count(), "quick": quick_mode(),
                          "date": datetime.date.today().isoformat(), "error": error}
    notebook = out_dir / f"{path.stem}.ipynb"
    write_text(notebook, nbformat.writes(nb) + "\n", what="the notebook")  # whole or not at all
    return notebook, seconds, error


def find(folder: Path, names: list[str]) -> list[Path]:
    """The tutorials (NN_name.py) in `folder` that `names` name (all of them when there are none).

    Raises:
        InputError: no tutorial there, or none matches.
    """
    found = sorted(Path(folder).glob("[0-9][0-9]_*.py"))
    if not found:
        raise InputError(f"no tutorials (NN_name.py) in {folder}; pass --dir the folder that holds them")
    if any(not n.strip() for n in names):
        raise InputError("an empty NAME matches every tutorial: name a number like 03 or part of a name, or none")
    chosen = [f for f in found if not names or any(_matches(f.stem, n) for n in names)]
    if not chosen:
        raise InputError(f"no tutorial matches {', '.join(names)}; have: {', '.join(f.stem for f in found)}")
    return chosen


def _matches(stem: str, name: str) -> bool:
    """A number names the lesson of that number (3 and 03 are lesson 3, not 13); words match part of a name."""
    return int(name) == int(stem[:2]) if name.isdigit() else name in stem


def missing() -> list[str]:
    """The modules of NEEDS that cannot be imported here (looked up, not imported)."""
    from importlib.util import find_spec

    absent = []
    for module in NEEDS:
        try:
            found = find_spec(module) is not None
        except (ImportError, ValueError):  # a finder that refuses it, or a half-imported module
            found = False
        if not found:
            absent.append(module)
    return absent


def require_tools() -> None:
    """Raises EnvironmentProblem naming the extras to install when a tutorial cannot run here."""
    absent = missing()
    if absent:
        raise EnvironmentProblem(f"the tutorials need {', '.join(absent)}, not installed here; install them with: "
                                 f"{install_advice(OPTIONAL[m][1][0] for m in absent)}")


def _die_with_parent() -> None:
    """In a lesson's process: end when `xdl tutorials` ends, however it ends (a `timeout`'s
    SIGTERM reaches only xdl), rather than write into --out after it (Linux; elsewhere a no-op).
    Its kernel follows: ipykernel exits when its parent does."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def render_each(tutorials: list[Path], out_dir: Path):
    """Runs each tutorial in a process of its own (each starts from a clean TensorFlow and
    PyTorch), yielding (tutorial, its one-line result, ok) as each finishes.

    Raises:
        EnvironmentProblem: a package the tutorials need is not installed (before any runs).
    """
    require_tools()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for tutorial in tutorials:
        r = subprocess.run([sys.executable, "-m", "xdl.teach.render", str(tutorial), str(out_dir)],
                           capture_output=True, text=True, preexec_fn=_die_with_parent)
        # a traceback's last line, when the renderer crashed rather than reporting a failed cell
        crashed = f"FAILED {tutorial}: " + (r.stderr.strip().splitlines() or [f"the renderer exited {r.returncode}"])[-1]
        yield tutorial, r.stdout.strip() or crashed, r.returncode == 0


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m xdl.teach.render TUTORIAL.py OUT_DIR", file=sys.stderr)
        return 2
    try:
        require_tools()
    except EnvironmentProblem as exc:
        print(f"xdl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    notebook, seconds, error = render(Path(args[0]), Path(args[1]))
    if error:
        print(f"FAILED {args[0]}: {error} (see {notebook})")
        return 1
    print(f"ok {args[0]} -> {notebook} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
