"""What the tutorials share that is not their lesson: matplotlib set up to write files, a figure
saved (and shown, in a notebook), a function's source printed, the committed twins' test metric."""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path


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
    ipython = sys.modules.get("IPython")
    if ipython is not None and ipython.get_ipython() is not None:
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
    """The source code of a twin (a function, class or module), to print next to the other."""
    return inspect.getsource(obj)


def committed(model: str) -> dict[str, float]:
    """The test metric each committed twin of `model` reached with its full recipe (its
    artifact's manifest), found from the repository root or any folder below it."""
    import json

    from xdl.spec import registry

    here = Path.cwd()
    root = next((p / "exported_models" for p in (here, *here.parents) if (p / "exported_models").is_dir()), None)
    if root is None:
        raise FileNotFoundError("no exported_models/ here or above: run the tutorial inside the repository")
    key = f"test_{registry.get(model).metric}"
    return {f: json.loads((root / model / f / "manifest.json").read_text())["metrics"][key] for f in ("keras", "torch")}
