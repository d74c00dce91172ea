"""The models running in the course's pages: the committed Keras and PyTorch exports of one
model side by side, under onnxruntime-web, with nothing fetched from the internet at view time.

build() copies what the demos need into `<static>/demos/` and returns, per lesson, the HTML
fragment that puts its demo on the page. Everything a page loads is a classic <script>: the
ONNX models, ONNX Runtime's WebAssembly and its Emscripten glue are embedded in .js files (the
bytes as base64, the glue as text imported from a blob: URL), because Chromium refuses fetch()
and ES-module imports from a file:// page. So one code path serves a page opened from disk and
one served by `python -m http.server -d site`. A page stays light: its demo loads the runtime
(about 19 MB of script) and its two models only when the reader presses the demo's button.

Framework-free: numpy, onnx (through xdl.artifacts) and the standard library only.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
from pathlib import Path

import numpy as np

from xdl import artifacts
from xdl.data import paraphrases, sentiment, shapes
from xdl.errors import EnvironmentProblem
from xdl.spec import registry

HERE = Path(__file__).parent / "site" / "static" / "demos"  # the demos' own JS and CSS
FRAMEWORKS = ("keras", "torch")
ORT_DIST = Path("onnxruntime-web") / "dist"
# The non-module build (a classic script: it loads from file:// too) and the Emscripten glue it
# imports, for the plain WebAssembly build it runs with one thread (pages are not cross-origin
# isolated, so threads are off).
ORT_SCRIPT = "ort.wasm.min.js"
ORT_GLUE = "ort-wasm-simd-threaded.mjs"
ORT_WASM = "ort-wasm-simd-threaded.wasm"
COMMON = ("xdl-demos.js", "xdl-demos.css")


# The models demonstrated (each in the lesson its spec names, from xdl/teach/site/static/demos/
# <model>.js), and the artifact folder per framework under exported_models/<model>/ (the gan's
# demo samples its generator).
DEMOS = {
    "mlp": {"keras": "keras", "torch": "torch"},
    "gan": {"keras": "keras-generator", "torch": "torch-generator"},
    "dqn": {"keras": "keras", "torch": "torch"},
    "cnn": {"keras": "keras", "torch": "torch"},
    "textcnn": {"keras": "keras", "torch": "torch"},
    "similarity": {"keras": "keras", "torch": "torch"},
}
# What a demo's box carries besides its model: the class names it shows.
LABELS = {"cnn": shapes.CLASSES}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _script(path: Path, assignment: str, value) -> None:
    """A classic script that stores `value` (JSON) under `assignment`: what a file:// page can load."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{assignment} = {json.dumps(value, separators=(',', ':'))};\n", encoding="utf-8")


def _tensor_record(tensors) -> list[dict]:
    return [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in tensors]


def vocabulary() -> dict:
    """How the text models' Python side turns a sentence into ids (xdl/data/sentiment.py): a
    word's id from FIRST_WORD on, START first, OOV for a word the vocabulary lacks or one at or
    beyond the model's input dim; pre-padded (and pre-truncated) to the model's length, if it
    has one (textcnn's; similarity's inputs take any length, as tutorial 12 feeds them)."""
    index = {w: i + sentiment.FIRST_WORD for i, w in enumerate(sentiment.vocabulary())}
    return {"index": index, "pad": sentiment.PAD, "start": sentiment.START, "oov": sentiment.OOV,
            "models": {"textcnn": {"length": sentiment.MAX_LENGTH, "num_words": sentiment.NUM_WORDS},
                       # the lesson's encode: no padding (its inputs take any length)
                       "similarity": {"length": None, "num_words": paraphrases.NUM_WORDS}}}


def _runtime(dist: Path, out: Path) -> None:
    shutil.copyfile(dist / ORT_SCRIPT, out / ORT_SCRIPT)
    _script(out / "ort-runtime.js", "window.xdlOrtRuntime",
            {"glue": (dist / ORT_GLUE).read_text(encoding="utf-8"), "wasm": _b64((dist / ORT_WASM).read_bytes())})


def _listed(array: np.ndarray) -> list:
    """Nested lists for JSON; a float32 in the 9 significant digits that give it back exactly
    (not float64's 17, which would double the files)."""
    if array.dtype != np.float32:
        return array.tolist()
    return np.char.mod("%.9g", array).astype(np.float64).tolist()


def _model(model: str, folders: dict[str, str], exported: Path, out: Path) -> None:
    """The two exports as scripts, and their test vectors as JSON in a script, which a page (the
    browser test's, a reader's console) can load from file:// too: window.xdlDemo.loadScript(
    "vectors/<model>.js") sets window.xdlDemoVectors[model][framework] = {inputs, outputs}."""
    vectors = {}
    for framework, folder in folders.items():
        art = artifacts.load(exported / model / folder)
        contract = art.manifest.contract
        _script(out / "models" / f"{model}-{framework}.js", f"window.xdlDemoModels[{json.dumps(f'{model}/{framework}')}]",
                {"onnx": _b64(art.model_bytes), "inputs": _tensor_record(contract.inputs),
                 "outputs": _tensor_record(contract.outputs)})
        vectors[framework] = {"inputs": {k: _listed(v) for k, v in art.inputs.items()},
                              "outputs": {k: _listed(v) for k, v in art.outputs.items()}}
    _script(out / "vectors" / f"{model}.js", f"window.xdlDemoVectors[{json.dumps(model)}]", vectors)


def fragment(model: str, megabytes: int) -> str:
    """The HTML that puts `model`'s demo on a page in site/tutorials/ (`megabytes`: what its
    button loads, said on the button)."""
    base = "../_static/demos"
    labels = f' data-labels="{html.escape(json.dumps(list(LABELS[model])))}"' if model in LABELS else ""
    return (f'<div class="xdl-demo" data-model="{model}" data-megabytes="{megabytes}"{labels}><p class="xdl-demo-note">This demo runs the committed Keras '
            f'and PyTorch exports in your browser (ONNX Runtime Web); it needs JavaScript.</p></div>\n'
            f'<script src="{base}/xdl-demos.js"></script>\n'
            f'<link rel="stylesheet" href="{base}/xdl-demos.css">\n'
            f'<script src="{base}/{model}.js"></script>\n')


def build(static_dir: Path, node_modules: Path, exported: Path) -> dict[str, str]:
    """Writes `static_dir/demos/` and returns each demonstrated lesson's fragment, by stem.

    Raises:
        EnvironmentProblem: onnxruntime-web is not installed under `node_modules`.
        InputError: an artifact is missing or does not match its manifest.
    """
    out, dist = Path(static_dir) / "demos", Path(node_modules) / ORT_DIST
    missing = [name for name in (ORT_SCRIPT, ORT_GLUE, ORT_WASM) if not (dist / name).is_file()]
    if missing:
        raise EnvironmentProblem(f"onnxruntime-web is not installed ({dist / missing[0]} is missing): run `cd web && npm ci`")
    out.mkdir(parents=True, exist_ok=True)
    _runtime(dist, out)
    for name in COMMON:
        shutil.copyfile(HERE / name, out / name)
    _script(out / "vocabulary.js", "window.xdlDemoVocabulary", vocabulary())
    fragments = {}
    for model, folders in DEMOS.items():
        shutil.copyfile(HERE / f"{model}.js", out / f"{model}.js")
        _model(model, folders, Path(exported), out)
        loads = [out / "ort-runtime.js", out / ORT_SCRIPT, *(out / "models").glob(f"{model}-*.js")]
        fragments[registry.get(model).lesson.tutorial] = fragment(model, round(sum(p.stat().st_size for p in loads) / 1e6))
    return fragments
