"""What the tutorials share that is not their lesson: matplotlib set up to write files, a figure
saved (and shown, in a notebook), a function's source printed, the committed twins' test metric,
the lesson's training sizes (cut short in the test suite's quick renders)."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

# Set (to anything but "" or "0") by tests/teach/test_tutorials.py for its renders: each tutorial then
# trains for a token number of epochs or steps, enough to run every cell, not to teach.
QUICK = "XDL_TUTORIAL_QUICK"


def quick_mode() -> bool:
    """Whether this run is a quick one ($XDL_TUTORIAL_QUICK set): the test suite's check that the
    tutorials run, whose numbers are not the lesson's."""
    return os.environ.get(QUICK, "") not in ("", "0")


def lesson_size(full: int, quick: int = 1) -> int:
    """A size that costs training time (epochs, steps, training samples): `full`, the one the
    tutorial's prose teaches, or `quick` in quick mode (quick_mode()). `python tutorials/NN_name.py` and
    `xdl tutorials` run `full`."""
    return quick if quick_mode() else full


def out_dir() -> Path:
    """Where a tutorial writes its figures: $XDL_TUTORIAL_OUT (set by the HTML renderer), else
    ./tutorial-figures."""
    folder = Path(os.environ.get("XDL_TUTORIAL_OUT") or "tutorial-figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(fig, name: str) -> None:
    """Saves a matplotlib figure as PNG and closes it. In a notebook (a rendered tutorial) the
    figure is also shown in the cell's output; run as a script, it says the file's name."""
    import matplotlib.pyplot as plt

    path = out_dir() / f"{name}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    if in_notebook():
        from IPython.display import Image, display

        display(Image(filename=str(path)))
    else:
        print(f"figure: {path.name}")


def pyplot():
    """matplotlib.pyplot on a file-only backend (tutorials run without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def source(obj) -> str:
    """The source code of a twin (a function, class or module), as its file has it."""
    return inspect.getsource(obj)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (a rendered tutorial) rather than as a script."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def show_code(obj) -> None:
    """Shows a twin's code: in a notebook highlighted, without its comments (the prose around it
    says what differs), each wrapped line indented as its first part; as a script, printed as its
    file has it."""
    if not in_notebook():
        print(source(obj))
        return
    from IPython.display import HTML, display

    from xdl.teach.code import highlighted

    display(HTML(highlighted(source(obj))))


def glue(name: str, value) -> None:
    """Records `value` under `name` for the lesson's prose: the site writes it where the prose
    says {glue:text}`name` (or `name:.2f`), so a number in the text is the number the cell
    computed (myst-nb's glue). Numpy scalars are recorded as Python numbers. As a script, or
    without myst-nb, it does nothing. It returns nothing, so a cell that ends with it shows no
    stray value."""
    plain = value.item() if hasattr(value, "item") and getattr(value, "shape", None) == () else value
    if in_notebook():
        try:
            from myst_nb import glue as record
        except ImportError:  # a notebook opened in a Jupyter without myst-nb: nothing to record for
            return
        record(name, plain, display=False)


def exported_models() -> Path:
    """The repository's exported_models/, from its root or any folder below it (a tutorial runs
    from the root as a script, from tutorials/ as a notebook)."""
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "exported_models").is_dir():
            return folder / "exported_models"
    raise FileNotFoundError("no exported_models/ here or above: run the tutorial inside the repository")


def committed(model: str) -> dict[str, float]:
    """The test metric each committed twin of `model` reached with its full recipe, from its
    artifact's manifest (read and checked by xdl.artifacts)."""
    from xdl.artifacts import read_manifest
    from xdl.spec import registry

    key = f"test_{registry.get(model).metric}"
    return {f: read_manifest(exported_models() / model / f).metrics[key] for f in ("keras", "torch")}
