"""Every tutorial runs to the end, shows numbers and at least one figure, and renders to HTML;
together they teach every concept in the course's list."""

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

# what a page rendered in quick mode says (render.QUICK_NOTE), as the HTML spells it
QUICK_WORDS = "Rendered in quick mode for the test suite"
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
EACH = [pytest.param(t, id=t.stem) for t in TUTORIALS]


def test_every_model_is_taught_by_the_tutorial_its_spec_names():
    for model in registry.names():
        lesson = ROOT / "tutorials" / f"{registry.get(model).lesson.tutorial}.py"
        assert f'registry.get("{model}")' in lesson.read_text(), f"{lesson.name} does not build {model}"


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """One folder of rendered pages for the whole session, pytest-xdist workers included: the tests
    that render a page and those that open it share it, whichever worker runs them."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is a folder of the run's own
        base = base.parent
    (base / "site").mkdir(exist_ok=True)
    return base / "site"


def _render(tutorial, site) -> dict:
    """The render of `tutorial` into `site` (returncode, stdout, stderr), run once per session
    whichever worker asks first (a lock per tutorial, as the `quick` fixture trains): a render
    takes up to a minute. In quick mode (xdl.teach.helpers.lesson_size): the suite checks that every
    cell runs, not what the full-length training teaches."""
    from filelock import FileLock

    done = site / f"{tutorial.stem}.render.json"
    with FileLock(site / f"{tutorial.stem}.lock"):
        if not done.exists():
            r = subprocess.run([sys.executable, "-m", "xdl.teach.render", str(tutorial), str(site)],
                               capture_output=True, text=True, cwd=ROOT, timeout=900, env={**os.environ, QUICK: "1"})
            done.write_text(json.dumps({"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}))
    return json.loads(done.read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the render's own limit is 900 s
@pytest.mark.parametrize("tutorial", EACH)
def test_tutorial_runs_and_renders(tutorial, site):
    r = _render(tutorial, site)
    assert r["returncode"] == 0, r["stdout"] + r["stderr"][-3000:]
    outputs = [o for cell in nbformat.read(site / f"{tutorial.stem}.ipynb", as_version=4).cells
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o.text[:300] for o in outputs if o.output_type == "stream" and o.name == "stderr"], \
        "a learner reads no library noise"
    assert any(o.output_type == "stream" for o in outputs), "a tutorial prints its numbers"
    assert any("image/png" in o.get("data", {}) for o in outputs), "a tutorial shows at least one figure"
    page = (site / f"{tutorial.stem}.html").read_text()
    assert QUICK_WORDS in page, "a quick render says so at the top of its page"
    assert "data:image/png;base64," in page, "figures are embedded in the page"
    assert 'class="pair"' in page, "Keras and PyTorch side by side"
    assert str(site) not in page and str(ROOT) not in page, "the page names no path of the machine that rendered it"
    assert not re.search(r"<script[^>]+src=", page), "the page loads no script from elsewhere"
    assert list((site / tutorial.stem).glob("*.png"))


def _browser():
    """Headless Chromium through Selenium, or the reason there is none (.ci/run installs Debian's
    chromium and chromium-driver)."""
    import shutil

    try:
        from selenium import webdriver
    except ImportError:
        return None, "selenium is not installed (pip install -e '.[dev]')"
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        return None, "no chromium and chromedriver here (Debian: apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver)), ""


@pytest.fixture(scope="module")
def browser():
    driver, why_not = _browser()
    if driver is None:
        pytest.skip(why_not)
    yield driver
    driver.quit()


@pytest.mark.browser
@pytest.mark.timeout(1800)  # renders the page first where no test has yet
@pytest.mark.parametrize("tutorial", EACH)
def test_rendered_page_reads_well_in_a_browser(tutorial, site, browser):
    """In headless Chromium, wide and narrow: every image loads, no script error, no code block
    runs off to the right behind a scrollbar."""
    r = _render(tutorial, site)
    assert r["returncode"] == 0, r["stdout"] + r["stderr"][-3000:]
    page = site / f"{tutorial.stem}.html"
    for width in (1280, 640):
        browser.set_window_size(width, 900)
        browser.get(page.as_uri())
        broken = browser.execute_script(
            "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.alt || i.src.slice(0, 60))")
        assert not broken, f"images that do not load at width {width}: {broken}"
        assert browser.execute_script("return document.images.length") >= 1
        wide = browser.execute_script(
            "return Array.from(document.querySelectorAll('pre')).filter(p => p.scrollWidth > p.clientWidth + 1)"
            ".map(p => p.textContent.slice(0, 80))")
        assert not wide, f"code that overflows at width {width}: {wide}"
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


@pytest.mark.slow
def test_a_tutorial_is_a_plain_script(tmp_path):
    """`python tutorials/NN_name.py` works without the renderer (figures go to $XDL_TUTORIAL_OUT)."""
    tutorial = ROOT / "tutorials" / "11_framework_differences.py"
    env = {**os.environ, "XDL_TUTORIAL_OUT": str(tmp_path)}
    r = subprocess.run([sys.executable, str(tutorial)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "| BatchNorm epsilon |" in r.stdout and list(tmp_path.glob("*.png"))


@pytest.mark.slow
def test_the_cli_renders_an_index(tmp_path):
    full = {name: value for name, value in os.environ.items() if name != QUICK}
    r = subprocess.run([sys.executable, "-m", "xdl", "tutorials", "11", "--html", str(tmp_path)], capture_output=True,
                       text=True, cwd=ROOT, timeout=600, env=full)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "11_framework_differences.html" in (tmp_path / "index.html").read_text()
    page = (tmp_path / "11_framework_differences.html").read_text()
    assert QUICK_WORDS not in page, "the course's pages are full runs"


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
