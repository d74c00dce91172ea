"""Small helpers the tutorials share: where figures go, and printing two sources side by side."""

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


def train(framework: str, spec, data, epochs: int):
    """Builds one twin from seed 0 and trains it with the spec's recipe (as `xdl train` does,
    checkpoint in a temporary folder). Returns (the model, its per-epoch history)."""
    import tempfile

    from xdl import backends

    fw = backends.load(framework)
    fw.seed_everything(0)
    net = fw.build(spec)
    checkpoint = Path(tempfile.mkdtemp()) / f"best.{fw.WEIGHTS_FILE}"
    return net, fw.train(net, spec, data, epochs=epochs, checkpoint=checkpoint, show_progress=False)
