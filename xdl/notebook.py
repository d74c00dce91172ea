"""Runs a tutorial written in jupytext's percent format and renders it as one HTML page.

A tutorial is a plain Python file: `python tutorials/01_first_network.py` runs it, Jupyter (with
jupytext) opens it as a notebook, and this module executes it cell by cell, capturing each cell's
printed output and the figures it saves, and writes a self-contained HTML page (figures
embedded) with Keras and PyTorch cells side by side:

    # %% [markdown]          a prose cell: the comment lines are Markdown
    # %% keras: training     a code cell titled "keras: ..." and the "torch: ..." cell right
    # %% torch: training     after it are shown in two columns

    python -m xdl.notebook tutorials/01_first_network.py site/     (or: xdl tutorials --html site)

Figures are saved by the tutorials themselves (xdl.tutorial.save_figure) into the folder named by
XDL_TUTORIAL_OUT, which this module points at the HTML's folder.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cell:
    kind: str  # "markdown" | "code"
    title: str  # "keras: ..." / "torch: ..." pair up side by side
    source: str
    output: str = ""
    figures: list[Path] = field(default_factory=list)
    error: str = ""


_MARKER = re.compile(r"^# %%(.*)$")


def parse(path: Path) -> list[Cell]:
    """Splits a percent-format file into cells (the text before the first marker is a code cell)."""
    cells: list[Cell] = []
    kind, title, lines = "code", "", []

    def flush():
        text = "\n".join(lines).strip("\n")
        if text.strip():
            if kind == "markdown":
                text = "\n".join(re.sub(r"^# ?", "", line) for line in text.splitlines())
            cells.append(Cell(kind, title, text))

    for line in Path(path).read_text().splitlines():
        m = _MARKER.match(line)
        if m:
            flush()
            header = m.group(1).strip()
            kind = "markdown" if "[markdown]" in header else "code"
            title, lines = header.replace("[markdown]", "").strip(), []
        else:
            lines.append(line)
    flush()
    return cells


def execute(cells: list[Cell], path: Path, figures_dir: Path) -> bool:
    """Runs the code cells in order in one namespace, as `python path` would; returns whether all
    ran. Each cell keeps its printed output and the figures written while it ran."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    os.environ["XDL_TUTORIAL_OUT"] = str(figures_dir)
    namespace = {"__name__": "__main__", "__file__": str(path)}
    for cell in cells:
        if cell.kind != "code":
            continue
        before = {p: p.stat().st_mtime_ns for p in figures_dir.glob("*.png")}
        buffer = io.StringIO()
        try:
            with contextlib.redirect_stdout(buffer):
                exec(compile(cell.source, str(path), "exec"), namespace)
        except Exception:  # the tutorial's own error, shown in the page and reported
            cell.error = traceback.format_exc(limit=-3)
        cell.output = buffer.getvalue()
        cell.figures = sorted(p for p in figures_dir.glob("*.png") if before.get(p) != p.stat().st_mtime_ns)
        if cell.error:
            return False
    return True


_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; line-height: 1.5; color: #222; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: 13px; }
pre.out { background: #fff; border-left: 3px solid #8a8; }
pre.err { background: #fee; border-left: 3px solid #c33; }
.pair { display: flex; gap: 1em; } .pair > div { flex: 1; min-width: 0; }
.label { font-weight: 600; font-size: 13px; color: #555; }
img { max-width: 100%; } table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 6px; }
"""


def _markdown(text: str) -> str:
    try:
        from markdown_it import MarkdownIt

        return MarkdownIt("commonmark").enable("table").render(text)
    except ImportError:  # markdown-it comes with rich (the frameworks' extras); plain text otherwise
        return f"<pre>{html.escape(text)}</pre>"


def _code(cell: Cell) -> str:
    parts = []
    if cell.title:
        parts.append(f'<div class="label">{html.escape(cell.title)}</div>')
    parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
    if cell.output:
        parts.append(f'<pre class="out">{html.escape(cell.output)}</pre>')
    if cell.error:
        parts.append(f'<pre class="err">{html.escape(cell.error)}</pre>')
    for figure in cell.figures:
        data = base64.b64encode(figure.read_bytes()).decode()
        parts.append(f'<img alt="{html.escape(figure.name)}" src="data:image/png;base64,{data}">')
    return "\n".join(parts)


def to_html(cells: list[Cell], title: str) -> str:
    body, i = [], 0
    while i < len(cells):
        cell = cells[i]
        if cell.kind == "markdown":
            body.append(_markdown(cell.source))
        elif (cell.title.startswith("keras") and i + 1 < len(cells) and cells[i + 1].kind == "code"
              and cells[i + 1].title.startswith("torch")):
            body.append(f'<div class="pair"><div>{_code(cell)}</div><div>{_code(cells[i + 1])}</div></div>')
            i += 1
        else:
            body.append(_code(cell))
        i += 1
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def render(path: Path, out_dir: Path) -> tuple[list[Cell], Path, float]:
    """Executes one tutorial and writes out_dir/<name>.html (figures in out_dir/<name>/).

    Returns:
        (the cells with their outputs, the page, seconds taken)
    """
    path, out_dir = Path(path), Path(out_dir)
    start = time.perf_counter()
    cells = parse(path)
    execute(cells, path, out_dir / path.stem)
    page = out_dir / f"{path.stem}.html"
    page.write_text(to_html(cells, path.stem.replace("_", " ")))
    return cells, page, time.perf_counter() - start


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m xdl.notebook TUTORIAL.py OUT_DIR", file=sys.stderr)
        return 2
    cells, page, seconds = render(Path(args[0]), Path(args[1]))
    errors = [c.error for c in cells if c.error]
    figures = sum(len(c.figures) for c in cells)
    if errors:
        print(f"FAILED {args[0]}: {errors[0].strip().splitlines()[-1]} (see {page})")
        return 1
    print(f"ok {args[0]} -> {page} ({seconds:.0f} s, {figures} figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
