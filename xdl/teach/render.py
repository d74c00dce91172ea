"""Runs a tutorial as a notebook and renders it as one self-contained HTML page.

A tutorial is a plain Python file in jupytext's percent format: `python tutorials/01_first_network.py`
runs it, Jupyter (with jupytext) opens it as a notebook, and this module reads it with jupytext,
executes it in a Jupyter kernel with nbclient and renders it with nbconvert (figures embedded),
with Keras and PyTorch cells side by side:

    # %% [markdown]          a prose cell: the comment lines are Markdown
    # %% keras: training     a code cell titled "keras: ..." and the "torch: ..." cell right
    # %% torch: training     after it are shown in two columns

    python -m xdl.teach.render tutorials/01_first_network.py site/     (or: xdl tutorials --html site)

It writes site/<name>.html, the executed notebook site/<name>.ipynb, and the figures the
tutorial saves (xdl.teach.helpers.save_figure) into site/<name>/. With $XDL_TUTORIAL_QUICK set (the
test suite's renders) the tutorials train for a token number of epochs (xdl.teach.helpers.lesson_size)
and the page says so at its top.
"""

from __future__ import annotations

import html
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from xdl.artifacts import write_text
from xdl.errors import OPTIONAL, EnvironmentProblem, InputError, install_advice
from xdl.teach.helpers import quick_mode

TEMPLATES = Path(__file__).parent / "templates"
CELL_TIMEOUT = 900  # seconds; the longest tutorial cell trains for about a minute
# What running a tutorial takes beyond the core: the notebook tools, both frameworks, plots and
# scikit-learn's metrics and digits. Without one, every tutorial fails in its first cells.
NEEDS = ("jupytext", "nbclient", "nbconvert", "ipykernel", "tensorflow", "keras", "torch", "safetensors",
         "matplotlib", "sklearn")


# Above the title of a page rendered in quick mode (xdl.teach.helpers.quick_mode): a reader must not
# take its numbers for the lesson's.
QUICK_NOTE = ("**Rendered in quick mode for the test suite:** fewer epochs and steps than the text says; "
              "the numbers are not the lesson's.")


@dataclass
class Rendered:
    page: Path  # the HTML page
    seconds: float
    figures: list[str]  # file names of the PNGs the tutorial saved
    error: str = ""  # the failing cell's error, in one line; "" when every cell ran


def pair_cells(nb) -> None:
    """Marks each "keras: ..." code cell followed by a "torch: ..." one, for the two columns."""
    cells = nb.cells
    for first, second in zip(cells, cells[1:]):
        if (first.cell_type == second.cell_type == "code" and first.metadata.get("title", "").startswith("keras")
                and second.metadata.get("title", "").startswith("torch")):
            first.metadata["xdl_pair"], second.metadata["xdl_pair"] = "keras", "torch"


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
    except CellExecutionError as exc:  # the tutorial's own error: the page shows it in its cell
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        return lines[-1] if lines else type(exc).__name__
    return ""


def to_html(nb, title: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="xdl", extra_template_basedirs=[str(TEMPLATES)])
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    return body


def render(path: Path, out_dir: Path) -> Rendered:
    """Executes one tutorial and writes out_dir/<name>.html, .ipynb and out_dir/<name>/*.png."""
    import jupytext
    import nbformat

    path, out_dir = Path(path).resolve(), Path(out_dir)
    start = time.perf_counter()
    figures = out_dir / path.stem
    figures.mkdir(parents=True, exist_ok=True)
    os.environ["XDL_TUTORIAL_OUT"] = str(figures.resolve())  # the kernel inherits it
    nb = jupytext.read(path)
    pair_cells(nb)
    note_quick_mode(nb)
    error = execute(nb, path.parent)
    nbformat.write(nb, out_dir / f"{path.stem}.ipynb")
    page = out_dir / f"{path.stem}.html"
    page.write_text(to_html(nb, path.stem.replace("_", " ")))
    return Rendered(page, time.perf_counter() - start, sorted(p.name for p in figures.glob("*.png")), error)


def find(folder: Path, names: list[str]) -> list[Path]:
    """The tutorials (NN_name.py) in `folder` whose stem starts with or contains one of `names`
    (all of them when `names` is empty).

    Raises:
        InputError: no tutorial there, or none matches.
    """
    found = sorted(Path(folder).glob("[0-9][0-9]_*.py"))
    if not found:
        raise InputError(f"no tutorials (NN_name.py) in {folder}; run from the repository root or pass --dir")
    chosen = [f for f in found if not names or any(f.stem.startswith(n) or n in f.stem for n in names)]
    if not chosen:
        raise InputError(f"no tutorial matches {', '.join(names)}; have: {', '.join(f.stem for f in found)}")
    return chosen


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


def render_each(tutorials: list[Path], out_dir: Path):
    """Renders each tutorial in a process of its own (each starts from a clean TensorFlow and
    PyTorch), yielding (tutorial, its one-line result, ok) as each finishes; then writes the index.

    Raises:
        EnvironmentProblem: a package the tutorials need is not installed (before any runs).
    """
    require_tools()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds = {}
    for tutorial in tutorials:
        start = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "xdl.teach.render", str(tutorial), str(out_dir)],
                           capture_output=True, text=True)
        seconds[tutorial.stem] = time.perf_counter() - start
        # a traceback's last line, when the renderer crashed rather than reporting a failed cell
        crashed = f"FAILED {tutorial}: " + (r.stderr.strip().splitlines() or [f"the renderer exited {r.returncode}"])[-1]
        yield tutorial, r.stdout.strip() or crashed, r.returncode == 0
    write_index(out_dir, seconds)


def write_index(out_dir: Path, seconds: dict[str, float]) -> Path:
    """index.html: every rendered tutorial with its run time (this run's) and its figures."""
    items = []
    for stem in sorted({p.stem for p in out_dir.glob("[0-9][0-9]_*.html")}):
        figures = sorted(p.name for p in (out_dir / stem).glob("*.png"))
        links = ", ".join(f'<a href="{html.escape(stem)}/{html.escape(f)}">{html.escape(f)}</a>' for f in figures)
        took = f"{seconds[stem]:.0f} s" if stem in seconds else "-"
        items.append(f'<tr><td><a href="{html.escape(stem)}.html">{html.escape(stem.replace("_", " "))}</a></td>'
                     f'<td>{took}</td><td>{links or "-"}</td></tr>')
    page = ("<!doctype html><meta charset='utf-8'><title>xdl tutorials</title><h1>xdl tutorials</h1>"
            "<table><tr><th>tutorial</th><th>run time</th><th>figures</th></tr>" + "".join(items) + "</table>\n")
    return write_text(out_dir / "index.html", page)


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
    r = render(Path(args[0]), Path(args[1]))
    if r.error:
        print(f"FAILED {args[0]}: {r.error} (see {r.page})")
        return 1
    print(f"ok {args[0]} -> {r.page} ({r.seconds:.0f} s, {len(r.figures)} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
