"""The models running in the pages (xdl/teach/demos.py): what build() writes, and, in headless
Chromium, that both exports in the page reproduce their artifact's test vectors."""

import functools
import http.server
import json
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import COMMITTED, ROOT
from test_book import _browser
from xdl import artifacts, verify
from xdl.errors import EnvironmentProblem
from xdl.spec import registry
from xdl.teach import demos

NODE_MODULES = ROOT / "web" / "node_modules"
needs_npm = pytest.mark.skipif(not (NODE_MODULES / demos.ORT_DIST).is_dir(),
                               reason="web/node_modules is absent: cd web && npm ci")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site's shape: _static/demos/ as build() writes it, and a page in tutorials/ that holds
    every fragment (the lessons' pages sit there too)."""
    root = tmp_path_factory.mktemp("site")
    fragments = demos.build(root / "_static", NODE_MODULES, COMMITTED)
    page = root / "tutorials" / "demos.html"
    page.parent.mkdir()
    page.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>demos</title><link rel='icon' href='data:,'></head><body>\n"
                    + "\n".join(f"<h2>{stem}</h2>\n{html}" for stem, html in sorted(fragments.items()))
                    + "</body></html>\n")
    return root, fragments


@needs_npm
@pytest.mark.timeout(120)
def test_build_writes_what_the_fragments_name(site):
    """One fragment per demonstrated lesson; every file it names is written, relative to a page in
    tutorials/; each model's two exports are scripts; the runtime is onnxruntime-web's own file."""
    root, fragments = site
    assert set(fragments) == {registry.get(m).lesson.tutorial for m in demos.DEMOS}
    for stem, html in fragments.items():
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and all(s.startswith("../_static/demos/") for s in sources), html
        for src in sources:
            assert (root / "tutorials" / src).resolve().is_file(), f"{stem}: {src} was not written"
    out = root / "_static" / "demos"
    for model in demos.DEMOS:
        vectors = _script_value(out / "vectors" / f"{model}.js", f'window.xdlDemoVectors["{model}"]')
        assert set(vectors) == set(demos.FRAMEWORKS)
        for framework in demos.FRAMEWORKS:
            assert set(vectors[framework]["inputs"]) == {t.name for t in _contract(model, framework).inputs}
            script = (out / "models" / f"{model}-{framework}.js").read_text()
            assert script.startswith(f'window.xdlDemoModels["{model}/{framework}"] = ')
    assert (out / demos.ORT_SCRIPT).read_bytes() == (NODE_MODULES / demos.ORT_DIST / demos.ORT_SCRIPT).read_bytes()


def _script_value(path, assignment):
    prefix = f"{assignment} = "
    text = path.read_text()
    assert text.startswith(prefix) and text.endswith(";\n"), text[:80]
    return json.loads(text[len(prefix):-2])


def _contract(model, framework):
    return artifacts.read_manifest(COMMITTED / model / demos.DEMOS[model][framework]).contract


def test_missing_onnxruntime_web_says_how_to_install_it(tmp_path):
    with pytest.raises(EnvironmentProblem, match=r"cd web && npm ci") as raised:
        demos.build(tmp_path / "_static", tmp_path / "node_modules", COMMITTED)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "_static").exists()


def test_the_builder_imports_no_framework():
    """demos.build runs where only the site is built: no TensorFlow, PyTorch or ONNX Runtime."""
    code = ("import sys, xdl.teach.demos; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'torch', 'onnxruntime', 'jax')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


@pytest.fixture(scope="module")
def served(site):
    """The site on a local server (127.0.0.1, a free port), in a thread."""
    root, _ = site
    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tutorials/demos.html"
    server.shutdown()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output is the verdicts, not the requests
        pass


@pytest.fixture(scope="module")
def browser():
    driver, why_not = _browser()
    if driver is None:
        pytest.skip(why_not)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Both exports on a model's test inputs, in the page: {keras: {output: nested lists}, torch: ...}
RUN = """const [model, framework, done] = arguments;
window.xdlDemo.loadScript("vectors/" + model + ".js")
  .then(() => window.xdlDemos[model].run(window.xdlDemoVectors[model][framework].inputs))
  .then(done, (e) => done({error: String(e && e.stack || e)}));"""


@needs_npm
@pytest.mark.browser
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["server", "file"])
def test_the_page_s_models_reproduce_the_test_vectors(how, site, served, browser):
    """Each demo's models, run by onnxruntime-web in the page, give each artifact's test-vector
    outputs within the artifact's tolerance, from a local server and from file://."""
    root, _ = site
    browser.get(served if how == "server" else (root / "tutorials" / "demos.html").as_uri())
    for model, folders in demos.DEMOS.items():
        arts = {framework: artifacts.load(COMMITTED / model / folder) for framework, folder in folders.items()}
        same = all(np.array_equal(arts["keras"].inputs[k], arts["torch"].inputs[k]) for k in arts["keras"].inputs)
        shared = browser.execute_async_script(RUN, model, "keras") if same else None  # one run answers for both
        for framework, art in arts.items():
            result = shared or browser.execute_async_script(RUN, model, framework)
            assert "error" not in result, result["error"]
            criteria = verify.policy.for_manifest(art.manifest, "cpu")
            for name, expected in art.outputs.items():
                c = verify.judge(result[framework][name], expected, criteria[name])
                assert c.ok, f"{model}/{framework} {name} in the page ({how}): {c.verdict} {c.detail}, max_abs {c.max_abs}"
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


@pytest.fixture(scope="module")
def page(site, browser):
    """The harness page, from file://, for the tests that call a demo's own functions."""
    root, _ = site
    browser.get((root / "tutorials" / "demos.html").as_uri())
    return browser


@needs_npm
@pytest.mark.browser
@pytest.mark.timeout(60)
def test_a_drawn_digit_is_made_into_what_the_mlp_was_trained_on(page):
    """The demo's enlargement of 8x8 block counts gives the mlp artifact's own test inputs from
    their scikit-learn sources (digits.load's zoom and 28x28 frame)."""
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    digits = datasets.load_digits()
    # digits.load's split, on indices: which 8x8 image each test sample came from
    _, test = model_selection.train_test_split(range(len(digits.target)), test_size=0.2, stratify=digits.target,
                                               random_state=0)
    expected = artifacts.load(COMMITTED / "mlp" / "keras").inputs["x"]
    sources = [(digits.images[i] / 16.0).ravel().tolist() for i in test[:len(expected)]]
    made = page.execute_script("return arguments[0].map((e) => window.xdlDemos.mlp.enlarge(e)[0]);", sources)
    c = verify.judge(made, expected, verify.policy.criteria_for("float32", "cpu", "reconstruction"))
    assert c.ok, f"{c.verdict} {c.detail}, max_abs {c.max_abs}"


@needs_npm
@pytest.mark.browser
@pytest.mark.timeout(60)
def test_the_page_s_cartpole_is_gymnasium_s(page):
    """The demo's CartPole steps as gymnasium's CartPole-v1 does, and ends its episodes where
    gymnasium does, on random pushes from random starts."""
    gymnasium = pytest.importorskip("gymnasium")
    rng = np.random.default_rng(0)
    env = gymnasium.make("CartPole-v1").unwrapped
    for seed in range(5):
        env.reset(seed=seed)
        start = env.state.tolist()
        actions = rng.integers(0, 2, 200).tolist()
        theirs, ends = [], []
        for action in actions:
            observation, _, terminated, _, _ = env.step(action)
            theirs.append(observation)
            ends.append(terminated)
            if terminated:
                break
        ours = page.execute_script("""let state = arguments[0], out = [];
            for (const a of arguments[1]) { const s = window.xdlDemos.dqn.step(state, a);
              out.push([s.state, s.terminated]); state = s.state; if (s.terminated) break; }
            return out;""", start, actions)
        assert [t for _, t in ours] == ends, f"seed {seed}: the episodes end at different steps"
        c = verify.judge(np.float32([s for s, _ in ours]), np.stack(theirs),
                         verify.policy.criteria_for("float32", "cpu", "regression"))
        assert c.ok, f"seed {seed}: {c.verdict} {c.detail}, max_abs {c.max_abs}"


@needs_npm
@pytest.mark.browser
@pytest.mark.timeout(90)
def test_each_demo_starts_on_a_press_and_shows_both_exports(page):
    """Nothing loads with the page; a press on a demo's button loads its two models, and a
    stroke on a canvas (mlp, cnn), the first sample (gan), the first steps (dqn) or the example
    sentences (textcnn, similarity) fill both columns, without a console error; every demo fits a
    narrow page."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page.refresh()  # a fresh page: nothing loaded by the tests before
    assert page.execute_script("return typeof window.ort") == "undefined", "ONNX Runtime loaded with the page"
    shown = {
        "mlp": "return box.querySelectorAll('.xdl-demo-best').length === 2",
        "cnn": "return box.querySelectorAll('.xdl-demo-best').length === 2",
        "gan": "return box.querySelectorAll('canvas').length === 16 && box.querySelector('.xdl-demo-status').textContent.includes('seed')",
        "dqn": "return Array.from(box.querySelectorAll('canvas')).every((c) => Number(c.dataset.steps) >= 3)",
        "textcnn": "return Array.from(box.querySelectorAll('.xdl-demo-answer')).every((p) => p.textContent.includes('P('))",
        "similarity": "return Array.from(box.querySelectorAll('.xdl-demo-answer')).every((p) => p.textContent.includes('P('))",
    }
    assert set(shown) == set(demos.DEMOS)
    for model in shown:  # all presses first: the models load meanwhile
        page.find_element(By.CSS_SELECTOR, f'.xdl-demo[data-model="{model}"] button.xdl-demo-start').click()
    for model, done in shown.items():
        box = page.find_element(By.CSS_SELECTOR, f'.xdl-demo[data-model="{model}"]')
        WebDriverWait(page, 30).until(lambda d: not box.find_elements(By.CSS_SELECTOR, "button.xdl-demo-start"))
        canvases = box.find_elements(By.CSS_SELECTOR, "canvas.xdl-demo-canvas")
        if canvases:  # a stroke down the middle
            page.execute_script("arguments[0].scrollIntoView()", canvases[0])
            ActionChains(page).move_to_element(canvases[0]).move_by_offset(0, -60).click_and_hold() \
                .move_by_offset(10, 60).move_by_offset(-10, 60).release().perform()
        WebDriverWait(page, 30).until(lambda d: d.execute_script(f"const box = arguments[0]; {done}", box),
                                      f"{model}: {box.text}")
    page.set_window_size(420, 900)  # a phone's width: the columns stack, nothing runs off to the right
    wide = page.execute_script("return Array.from(document.querySelectorAll('.xdl-demo'))"
                               ".filter((b) => b.scrollWidth > b.clientWidth + 1).map((b) => b.dataset.model)")
    page.set_window_size(1280, 900)
    assert not wide, f"demos wider than a narrow page: {wide}"
    errors = [e["message"] for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


@needs_npm
@pytest.mark.browser
@pytest.mark.timeout(60)
@pytest.mark.parametrize("model", ["textcnn", "similarity"])
def test_a_typed_sentence_becomes_the_ids_the_python_side_makes(model, page):
    """The test vectors' sentences, written out as words, are encoded by the page into the very
    ids the data set made (textcnn: 500 of them, pre-padded; similarity: the lesson's encode,
    unpadded)."""
    vocabulary = demos.vocabulary()
    word = {i: w for w, i in vocabulary["index"].items()}
    rows = np.concatenate(list(artifacts.load(COMMITTED / model / "keras").inputs.values()))
    sentences = [" ".join(word[i] for i in row if i in word) for row in rows.tolist()]
    made = page.execute_async_script("""const [model, sentences, done] = arguments;
        window.xdlDemo.loadScript("vocabulary.js").then(() => done(sentences.map((s) => window.xdlDemo.encode(model, s).ids)));""",
                                     model, sentences)
    if vocabulary["models"][model]["length"] is None:
        rows = [row[np.argmax(row != vocabulary["pad"]):] for row in rows]
    assert made == [row.tolist() for row in rows]
