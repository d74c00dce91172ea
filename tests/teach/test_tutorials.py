"""Every tutorial runs to the end as a notebook, shows numbers and at least one figure; the
committed notebooks (the site's pages) are full runs of the tutorials as they are now; together the
tutorials teach every concept in the course's list, the concepts the articles teach by code with
code that runs in both frameworks and checks itself."""

import json
import os
import re
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT
from xdl.spec import registry
from xdl.teach.helpers import QUICK

from xdl.teach.render import QUICK_NOTE

NOTEBOOKS = ROOT / "tutorials" / "notebooks"  # the committed full runs (`xdl tutorials`)
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
EACH = [pytest.param(t, id=t.stem) for t in TUTORIALS]


def test_every_model_is_taught_by_the_tutorial_its_spec_names():
    for model in registry.names():
        lesson = ROOT / "tutorials" / f"{registry.get(model).lesson.tutorial}.py"
        assert f'registry.get("{model}")' in lesson.read_text(), f"{lesson.name} does not build {model}"


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """One folder of quick runs for the whole session, pytest-xdist workers included: the tests that
    run a tutorial and those that read its notebook share it, whichever worker runs them."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is a folder of the run's own
        base = base.parent
    (base / "runs").mkdir(exist_ok=True)
    return base / "runs"


def _render(tutorial, site) -> dict:
    """The quick run of `tutorial` into `site` (returncode, stdout, stderr), once per session
    whichever worker asks first (a lock per tutorial, as the `quick` fixture trains): a run takes up
    to a minute. In quick mode (xdl.teach.helpers.lesson_size): the suite checks that every cell
    runs, not what the full-length training teaches (the committed notebooks are full runs)."""
    from filelock import FileLock

    done = site / f"{tutorial.stem}.render.json"
    with FileLock(site / f"{tutorial.stem}.lock"):
        if not done.exists():
            r = subprocess.run([sys.executable, "-m", "xdl.teach.render", str(tutorial), str(site)],
                               capture_output=True, text=True, cwd=ROOT, timeout=900, env={**os.environ, QUICK: "1"})
            done.write_text(json.dumps({"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}))
    return json.loads(done.read_text())


def _outputs(notebook) -> list:
    return [o for cell in notebook.cells for o in cell.get("outputs", [])]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the run's own limit is 900 s
@pytest.mark.parametrize("tutorial", EACH)
def test_tutorial_runs(tutorial, runs):
    r = _render(tutorial, runs)
    assert r["returncode"] == 0, r["stdout"] + r["stderr"][-3000:]
    text = (runs / f"{tutorial.stem}.ipynb").read_text()
    notebook = nbformat.reads(text, as_version=4)
    outputs = _outputs(notebook)
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o.text[:300] for o in outputs if o.output_type == "stream" and o.name == "stderr"], \
        "a learner reads no library noise"
    assert any(o.output_type == "stream" for o in outputs), "a tutorial prints its numbers"
    assert any("image/png" in o.get("data", {}) for o in outputs), "a tutorial shows at least one figure"
    assert notebook.cells[0].source == QUICK_NOTE, "a quick run says so at its top"
    assert notebook.metadata["xdl"]["quick"] is True and notebook.metadata["xdl"]["seconds"] > 0
    assert str(runs) not in text and str(ROOT) not in text, "a notebook names no path of the machine that ran it"
    for cell in notebook.cells:  # the concepts taught by code check themselves (test_concepts_run_...)
        if any(tag.startswith("concept:") for tag in cell.metadata.get("tags", [])):
            assert cell.get("outputs"), f"the concept cell {cell.metadata.get('title')!r} shows nothing"


def _cells(notebook) -> list[tuple[str, str]]:
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


@pytest.mark.parametrize("tutorial", EACH)
def test_the_committed_notebook_is_a_full_run_of_the_tutorial_as_it_is(tutorial):
    """tutorials/notebooks/NN_name.ipynb, which the site shows, ran the tutorial's current cells in
    full, without an error: a tutorial changed since is a stale page (`xdl tutorials NN` renews it)."""
    import jupytext

    committed = NOTEBOOKS / f"{tutorial.stem}.ipynb"
    assert committed.is_file(), f"no {committed.relative_to(ROOT)}: run `xdl tutorials {tutorial.stem[:2]}`"
    notebook = nbformat.read(committed, as_version=4)
    facts = notebook.metadata.get("xdl", {})
    assert facts.get("quick") is False and facts.get("error") == "", f"{committed.name} is not a full, clean run"
    assert _cells(notebook) == _cells(jupytext.read(tutorial)), \
        f"{committed.name} is stale: {tutorial.name} changed since it ran; run `xdl tutorials {tutorial.stem[:2]}`"
    outputs = _outputs(notebook)
    assert not [o for o in outputs if o.output_type == "error" or getattr(o, "name", "") == "stderr"]
    assert str(ROOT) not in committed.read_text(), "a committed notebook names no path of the machine that ran it"
    echoes = [cell.source.splitlines()[-1] for cell in notebook.cells if cell.cell_type == "code" and cell.source
              and cell.source.splitlines()[-1].startswith("glue(") and any(o.output_type == "execute_result"
                                                                            for o in cell.outputs)]
    assert not echoes, f"a cell ending in glue() shows the value as a stray output: {echoes}"
    strays = [o.data["text/plain"] for o in outputs if o.output_type == "execute_result"
              and o.data.get("text/plain", "").startswith("<All keys matched")]
    assert not strays, "a cell ending in load_state_dict() shows its return value"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_cli_runs_a_tutorial_from_outside_the_checkout(tmp_path):
    """`xdl tutorials` finds the checkout xdl is installed from, writes the executed notebook with
    its run time, and runs the lesson's full sizes (not quick mode)."""
    full = {name: value for name, value in os.environ.items() if name != QUICK}
    r = subprocess.run([sys.executable, "-m", "xdl", "tutorials", "11", "--out", str(tmp_path / "nb")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=600, env=full)
    assert r.returncode == 0, r.stdout + r.stderr
    notebook = nbformat.read(tmp_path / "nb" / "11_framework_differences.ipynb", as_version=4)
    assert notebook.metadata["xdl"]["quick"] is False and notebook.metadata["xdl"]["seconds"] > 0
    assert "`xdl site`" in r.stdout


# SEEDS.md's concepts, each with words that show a tutorial teaches it (in its prose or code).
CONCEPTS = {
    "neuron and layer": ["neurons", "layer"],
    "input / hidden / output layers": ["hidden layer", "output layer"],
    "activation functions and ranges": ["sigmoid", "tanh", "ReLU", "Leaky ReLU"],
    "loss functions": ["cross-entropy", "squared error", "KL divergence"],
    "optimizers": ["SGD", "momentum", "RMSprop", "Adam", "Mini-batch"],
    "backpropagation and the chain rule": ["chain rule"],
    "vanishing and exploding gradients": ["vanishing", "exploding"],
    "regularisation": ["L2", "Dropout"],
    "dropout in training, off in inference": ["inference"],
    "overfitting, validation vs test, early stopping": ["overfit", "validation", "EarlyStopping"],
    "input normalisation and batch normalisation": ["Normalising inputs", "BatchNorm"],
    "hyperparameters": ["learning rate", "batch", "epochs"],
    "weight sharing": ["weight sharing"],
    "pooling": ["Pooling"],
    "embeddings": ["embedding"],
    "residual connections": ["residual"],
    "LSTM gates": ["forget", "input", "output", "candidate"],
    "saving and restoring, checkpoints": ["ModelCheckpoint", "Restore"],
    "fine-tuning and transfer learning": ["Fine-tuning", "Transfer learning"],
    "evaluation metrics": ["accuracy", "precision", "recall", "F1", "AUC"],
    "CPU vs GPU execution": ["CPU vs GPU"],
    "generative models": ["generative"],
    "recommendation": ["recommender"],
    "text similarity": ["siamese", "paraphrase"],
    "reinforcement learning": ["Q-learning", "replay buffer", "target network", "epsilon-greedy", "reward"],
    "sequence labelling": ["per token"],
}


@pytest.mark.parametrize("concept", list(CONCEPTS))
def test_every_concept_is_taught(concept):
    text = "\n".join(t.read_text() for t in TUTORIALS)
    for phrase in CONCEPTS[concept]:
        assert re.search(re.escape(phrase), text, re.I), f"no tutorial mentions {phrase!r} ({concept})"


def test_tutorials_open_as_notebooks():
    import jupytext

    for tutorial in TUTORIALS:
        notebook = jupytext.read(tutorial)  # the percent format, as Jupyter with jupytext opens it
        kinds = {cell.cell_type for cell in notebook.cells}
        assert kinds == {"markdown", "code"}, tutorial.stem
        assert notebook.cells[0].cell_type == "markdown" and notebook.cells[0].source.startswith("# ")


# The concepts the articles teach by code, each taught here by code in both frameworks: a "keras: ..."
# cell and a "torch: ..." cell tagged concept:NAME, each checking what it teaches with an assert
# against the framework's own result (a neuron by hand against a Dense layer...). test_tutorial_runs
# runs them; the committed notebooks show them run in full.
CODE_CONCEPTS = ("neuron", "chain-rule", "optimizers", "dropout", "normalisation", "lstm-gates", "device",
                 "vanishing-gradients", "exploding-gradients", "siamese-gradients")


@pytest.mark.parametrize("concept", CODE_CONCEPTS)
def test_concept_is_taught_by_code_that_checks_itself_in_both_frameworks(concept):
    import ast

    import jupytext

    checks = {"keras": [], "torch": []}
    for tutorial in TUTORIALS:
        for cell in jupytext.read(tutorial).cells:
            if f"concept:{concept}" in cell.metadata.get("tags", []):
                side = cell.metadata.get("title", "").split(":")[0]
                asserts = [node for node in ast.walk(ast.parse(cell.source)) if isinstance(node, ast.Assert)]
                checks.setdefault(side, []).append(bool(asserts))
    for side in ("keras", "torch"):
        assert checks[side], f"no '{side}: ...' cell is tagged concept:{concept}"
        assert all(checks[side]), f"a '{side}: ...' cell tagged concept:{concept} checks nothing (no assert)"


@pytest.mark.parametrize("tutorial", EACH)
def test_every_lesson_states_its_goals_prerequisites_and_exercises(tutorial):
    import jupytext

    cells = [cell.source for cell in jupytext.read(tutorial).cells if cell.cell_type == "markdown"]
    assert "**Goals**" in cells[0] and "**Prerequisites**" in cells[0], f"{tutorial.name}: its first cell"
    exercises = [text.split("## Exercises", 1)[1] for text in cells if re.search(r"^## Exercises", text, re.M)]
    assert exercises, f"{tutorial.name} has no '## Exercises'"
    items = [line for line in exercises[-1].splitlines() if re.match(r"(\d+\.|-)\s", line)]
    assert 2 <= len(items) <= 4, f"{tutorial.name}: {len(items)} exercises"
