"""Builds the course site: the lessons' executed notebooks and docs/, one static site, offline.

    xdl site                          -> site/index.html (open it as a file, or serve the folder)

The lessons are the notebooks in tutorials/notebooks/, full runs committed by `xdl tutorials`; the
site shows them as they ran and executes nothing, so it builds in seconds without TensorFlow or
PyTorch. Sphinx with myst-nb renders them (xdl/teach/site/conf.py says why); this module stages
what Sphinx reads in a temporary folder laid out as the repository is, so every relative link in
the docs still points where it did:

- each notebook, prepared: a line of links at its top (all lessons, the notebook, its source, its
  run time), each "keras: ..." cell and the "torch: ..." cell after it tagged to sit side by side,
  the models running in the page at its end (xdl.teach.demos);
- README.md, docs/, the benchmark and exported-model pages, and every other file they link to;
- index.md: the course, each lesson with its description, goals, model and run time;
- MathJax from web/node_modules (`cd web && npm ci`), nothing fetched when a page is read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from xdl.errors import OPTIONAL, EnvironmentProblem, InputError, install_advice

CONF = Path(__file__).parent / "site"
# Markdown pages of the repository the site carries besides docs/ (the docs link to them)
PAGES = ("README.md", "benchmarks/README.md", "exported_models/README.md")
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)(#[^)\s]*)?\)")
MARK = ".xdl-site"  # in a folder `xdl site` built, which the next build may replace
# MathJax's SVG build and what it loads on demand: TeX extensions, the menu, and what the menu's
# accessibility settings load (the explorer, MathML input, the speech rule engine and its maps)
MATHJAX = ("tex-svg.js", "input/tex/extensions", "ui", "a11y", "input/mml.js", "input/mml", "sre")


def repository() -> Path:
    """The xdl checkout to build from: the current folder or one above it, else the one xdl is
    installed from (an editable install).

    Raises:
        InputError: neither holds tutorials/ and docs/.
    """
    here = Path.cwd()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        if (folder / "tutorials").is_dir() and (folder / "docs").is_dir() and (folder / "xdl" / "teach").is_dir():
            return folder
    raise InputError("no xdl checkout here or above (tutorials/ and docs/): run inside a clone of xdl")


def lessons(notebooks: Path, sources: Path) -> list[Path]:
    """The lessons' executed notebooks, in course order, each read and checked: a notebook with a
    title that ran without an error, and its tutorial's source in `sources`.

    Raises:
        InputError: there are none, or one is not such a notebook.
    """
    import nbformat

    found = sorted(Path(notebooks).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise InputError(f"no executed lessons (NN_name.ipynb) in {notebooks}: run `xdl tutorials` first")
    for notebook in found:
        try:
            nb = nbformat.read(notebook, as_version=4)
            title_and_summary(nb)
        except (OSError, ValueError, AttributeError, StopIteration) as exc:  # unreadable, not JSON, no notebook
            why = "no '# title' in a Markdown cell" if isinstance(exc, StopIteration) else type(exc).__name__
            raise InputError(f"{notebook} is not an executed lesson ({why}): run `xdl tutorials` again") from None
        failed = nb.metadata.get("xdl", {}).get("error") or next(
            (o.get("evalue") or o.get("ename") for c in nb.cells for o in c.get("outputs", [])
             if o.get("output_type") == "error"), None)
        if failed:
            raise InputError(f"{notebook} ran with an error ({str(failed)[:120]}): fix the lesson and run "
                             f"`xdl tutorials {notebook.stem[:2]}` again; a page shows no failed run")
        if not (Path(sources) / f"{notebook.stem}.py").is_file():
            raise InputError(f"{notebook} has no tutorial {notebook.stem}.py in {sources}: a lesson links to its source")
    return found


def title_and_summary(nb) -> tuple[str, str, list[str]]:
    """A lesson's title (its first heading), its first paragraph and its goals (the bullets under
    **Goals**), read from its first Markdown cell."""
    text = next(c.source for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("# "))
    lines = text.strip().splitlines()
    title = lines[0].lstrip("# ").strip()
    paragraphs = [p.strip() for p in "\n".join(lines[1:]).split("\n\n") if p.strip()]
    summary = next((" ".join(p.split()) for p in paragraphs if not p.startswith(("**", "-", "*"))), "")
    goals: list[str] = []
    if "**Goals**" in text:
        for line in text.split("**Goals**", 1)[1].splitlines()[1:]:
            if line.lstrip().startswith(("- ", "* ")):
                goals.append(line.strip()[2:].strip())
            elif goals and line.startswith(" ") and line.strip():  # a bullet's wrapped line
                goals[-1] += " " + line.strip()
            elif goals or line.strip():  # the list ended, or something else came first
                break
    return title, summary, goals


GLUE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")


def glued_from(notebook: str, text: str) -> str:
    """`text` (a lesson's prose) with each {glue:text}`key` role pointing at the lesson's notebook
    (`tutorials/NN.ipynb::key`, myst-nb's glue across pages): the index quotes the lesson's prose
    on a page that recorded no numbers of its own."""
    return GLUE.sub(lambda m: f"{{glue:text}}`tutorials/{notebook}::{m.group(1)}`", text)


def run_time(nb) -> str:
    """How long the lesson ran when its notebook was made, and where: '52 s on 2 cores, 2026-12-04'."""
    facts = nb.metadata.get("xdl", {})
    if "seconds" not in facts:
        return "run time not recorded"
    quick = " (quick mode: not the lesson's numbers)" if facts.get("quick") else ""
    return f"{facts['seconds']:.0f} s on {facts.get('cores', '?')} cores, {facts.get('date', '?')}{quick}"


def pair_cells(nb) -> None:
    """Tags each "keras: ..." code cell followed by a "torch: ..." one (the site's CSS sets them side
    by side) and shows every titled cell's title as its first line, as the tutorial's file has it."""
    cells = nb.cells
    for first, second in zip(cells, cells[1:]):
        if (first.cell_type == second.cell_type == "code" and first.metadata.get("title", "").startswith("keras")
                and second.metadata.get("title", "").startswith("torch")):
            first.metadata.setdefault("tags", []).append("xdl-keras")
            second.metadata.setdefault("tags", []).append("xdl-torch")
    for cell in cells:
        if cell.cell_type == "code" and cell.metadata.get("title"):
            cell.source = f"# {cell.metadata['title']}\n{cell.source}"


def prepare(notebook: Path, stage: Path, source: Path, demo: str) -> None:
    """Writes the lesson's page notebook into stage/tutorials/, with its links line, paired cells
    and demo; the notebook as committed and the tutorial's source go beside it for download."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    folder = stage / "tutorials"
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, folder / "notebooks" / notebook.name)
    shutil.copy2(source, folder / source.name)
    pair_cells(nb)
    links = (f"[All lessons](../index.md) · {{download}}`notebook <notebooks/{notebook.name}>` · "
             f"{{download}}`source <{source.name}>` · ran in {run_time(nb)}")
    heading = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.lstrip().startswith("# "))
    nb.cells.insert(heading + 1, nbformat.v4.new_markdown_cell(f"{{.xdl-lesson-links}}\n{links}"))
    if demo:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"## The models in the page\n\n```{{raw}} html\n{demo}\n```\n"))
    nbformat.write(nb, folder / notebook.name)


def stage_pages(root: Path, stage: Path) -> None:
    """Copies README.md, docs/ and PAGES into the stage, then every file of the repository they link
    to (a .py file becomes a download), so each relative link resolves as it does in the repository."""
    for page in PAGES:
        if (root / page).is_file():
            (stage / page).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / page, stage / page)
    shutil.copytree(root / "docs", stage / "docs", dirs_exist_ok=True)
    for page in list(stage.rglob("*.md")):
        for target, _ in LINK.findall(page.read_text()):
            source = (root / page.parent.relative_to(stage) / target).resolve()
            copy = (page.parent / target).resolve()
            if source.is_file() and source.is_relative_to(root) and not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, copy)
                if copy.suffix == ".md":  # a page reached only by links (a rendered benchmark table)
                    copy.write_text("---\norphan: true\n---\n" + copy.read_text())


def index(notebooks: list[Path], root: Path) -> str:
    """index.md: the course, a row per lesson, and the navigation's table of contents."""
    import nbformat

    from xdl.spec import registry

    taught = {}
    for name in registry.names():
        taught.setdefault(registry.get(name).lesson.tutorial, []).append(f"`{name}`")
    rows, names = [], []
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        title, summary, goals = title_and_summary(nb)
        learn = glued_from(notebook.name, "<br>".join(f"• {goal}" for goal in goals) or summary)
        models = ", ".join(taught.get(notebook.stem, [])) or "-"
        rows.append(f"| [{title}](tutorials/{notebook.stem}.ipynb) | {learn} | {models} | "
                    f"{run_time(nb).split(',')[0]} |")
        names.append(f"tutorials/{notebook.stem}")
    docs = sorted(p.relative_to(root).with_suffix("").as_posix() for p in (root / "docs").glob("*.md"))
    more = [page.removesuffix(".md") for page in PAGES[1:] if (root / page).is_file()]
    return "\n".join([
        "# xdl: the course",
        "",
        "Every model of an introductory deep-learning course, written twice, in Keras 3 and in PyTorch, "
        "trained on the same data, side by side on every page, and exported to ONNX. Each lesson is a "
        "notebook that ran in full; its numbers are the cells' own. Start with lesson 1; each lesson "
        "names what it builds on.",
        "",
        "| lesson | you will | model | ran in |",
        "|---|---|---|---|",
        *rows,
        "",
        "The lessons' sources are `tutorials/NN_name.py` (plain Python, or a notebook with jupytext); "
        "`xdl tutorials` runs them again and `xdl site` rebuilds this site "
        "([how](docs/tutorials.md)).",
        "",
        "```{toctree}\n:caption: Lessons\n:hidden:\n\n" + "\n".join(names) + "\n```",
        "",
        "```{toctree}\n:caption: Reference\n:hidden:\n\nREADME\n" + "\n".join(docs) + "\n```",
        "",
        "```{toctree}\n:caption: Measurements\n:hidden:\n\n" + "\n".join(more) + "\n```",
        "",
    ])


def copy_mathjax(node_modules: Path, static: Path) -> None:
    base = node_modules / "mathjax" / "es5"
    if not (base / MATHJAX[0]).is_file():
        raise EnvironmentProblem(f"MathJax is not installed in {node_modules}: run `cd web && npm ci` "
                                 "(the site bundles it and fetches nothing when read)")
    for part in MATHJAX:
        target = static / "mathjax" / part
        if (base / part).is_dir():
            shutil.copytree(base / part, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / part, target)


def require_tools() -> None:
    """Raises EnvironmentProblem naming the extra to install when Sphinx, myst-nb or Furo is missing."""
    from importlib.util import find_spec

    absent = [m for m in ("sphinx", "myst_nb", "furo") if find_spec(m) is None]
    if absent:
        raise EnvironmentProblem(f"building the site needs {', '.join(absent)}, not installed here; install them "
                                 f"with: {install_advice(OPTIONAL[m][1][0] for m in absent)}")


def build(out: Path, root: Path | None = None, notebooks: Path | None = None) -> Path:
    """Builds the site into `out` (replacing what a previous build left there) and returns its
    index.html. `notebooks` defaults to the repository's tutorials/notebooks/.

    Raises:
        InputError: no checkout or no executed lessons.
        EnvironmentProblem: Sphinx, myst-nb, Furo or web/node_modules missing.
        InputError: Sphinx failed or warned (the first warning is in the message).
    """
    out = Path(os.path.realpath(out))  # a link to the site's folder: the folder is what is replaced
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).is_file():
        raise InputError(f"--out {out} is a folder with files that no `xdl site` wrote: the site's folder is "
                         "replaced whole; name a new or empty folder")
    root = Path(root) if root else repository()
    found = lessons(Path(notebooks) if notebooks else root / "tutorials" / "notebooks", root / "tutorials")
    require_tools()
    with tempfile.TemporaryDirectory(prefix="xdl-site-") as tmp:
        stage, static = Path(tmp) / "src", Path(tmp) / "static"
        stage.mkdir()
        static.mkdir()
        copy_mathjax(root / "web" / "node_modules", static)
        demos = demo_fragments(static, root)
        stage_pages(root, stage)
        for notebook in found:
            prepare(notebook, stage, root / "tutorials" / f"{notebook.stem}.py", demos.get(notebook.stem, ""))
        (stage / "index.md").write_text(index(found, root))
        building = Path(tmp) / "html"
        r = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "--keep-going", "-c", str(CONF),
                            str(stage), str(building)], capture_output=True, text=True, env=_environment(static))
        # A warning fails the build: a number the prose names that its notebook did not record
        # would print as a blank, a broken link would lead nowhere.
        warnings = [line.replace(f"{stage}{os.sep}", "") for line in r.stderr.splitlines()
                    if "WARNING" in line or "ERROR" in line]
        if r.returncode != 0 or warnings:
            said = warnings or (r.stderr or r.stdout).strip().splitlines()[-1:]
            more = f" (and {len(said) - 1} more)" if len(said) > 1 else ""
            raise InputError(f"Sphinx refused the site: {said[0] if said else 'it failed'}{more}")
        (building / MARK).write_text("built by `xdl site`: the next build replaces this folder whole\n")
        # the old site moves aside and goes only once the new one is in its place
        old = Path(tmp) / "previous"
        if out.exists():
            shutil.move(out, old)
        shutil.move(building, out)
    return out / "index.html"


def demo_fragments(static: Path, root: Path) -> dict[str, str]:
    """The HTML of each lesson's models in the page, their scripts and models copied into `static`
    (xdl.teach.demos)."""
    from xdl.teach import demos

    return demos.build(static, root / "web" / "node_modules", root / "exported_models")


def _environment(static: Path) -> dict[str, str]:
    return {**os.environ, "XDL_SITE_STATIC": str(static)}
