"""The corpus of users' models (benchmarks/users.py): its small entries pass through the code path
the committed run took, and the committed table is its JSON rendered, every failure explained."""

import importlib.util
import json
import sys

import pytest

from conftest import ROOT

SCRIPT = ROOT / "benchmarks" / "users.py"


@pytest.fixture(scope="module")
def corpus():
    """benchmarks/users.py as a module (a script: not in the xdl package, whose layers forbid
    importing torch and keras outside the back ends)."""
    spec = importlib.util.spec_from_file_location("users_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _missing(entry) -> list[str]:
    return [package for package in entry.needs if importlib.util.find_spec(package) is None]


TINY = ("tiny-cnn", "MobileNetV3Small", "tiny-bert")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("name", TINY)
def test_a_small_entry_passes_as_built(corpus, name):
    """A CNN with BatchNorm statistics from a batch (PyTorch), a keras.applications net (Keras) and
    a BERT from a tiny config (transformers, keyword inputs, a dynamic sequence length): each a real
    PASS, with signal in its outputs; tiny-bert's torch.onnx and Polygraphy figures agree with xdl's."""
    entry = corpus.ENTRIES[name]
    assert entry.tiny
    missing = _missing(entry)
    if missing:  # .ci/run installs .[all], which leaves the corpus's extra out (transformers: ~190 MB)
        pytest.skip(f"{name} needs {', '.join(missing)}, not installed: pip install -e '.[corpus]'")
    # tiny-cnn in a process of its own, as the committed run measured each entry; the others in this one
    row = corpus.measure_in_a_process(name, timeout=150) if name == "tiny-cnn" else corpus.measure(entry)
    assert (row["exit"], row["verdict"]) == (0, "PASS"), row
    assert row["magnitude"] > 1e-3 and row["max_abs"] < 1e-4, row
    if entry.compare:
        for tool in ("torch.onnx verification", "polygraphy"):
            assert "error" not in row[tool], row[tool]
            assert row[tool]["max_abs"] < 1e-4, row


def test_the_committed_table_is_the_json_rendered(corpus):
    result = json.loads((ROOT / "benchmarks" / "users-cpu.json").read_text())
    assert (ROOT / "benchmarks" / "users-cpu.md").read_text() == corpus.render(result) + "\n", \
        "benchmarks/users-cpu.md is not users-cpu.json rendered: python benchmarks/users.py --render"


def test_the_committed_run_covers_the_corpus_and_explains_each_failure(corpus):
    """Every entry measured, at least 20 architectures nobody here wrote, and each row that does
    not pass has its line: whose fault it is, and the workaround."""
    rows = json.loads((ROOT / "benchmarks" / "users-cpu.json").read_text())["rows"]
    assert [r["model"] for r in rows] == list(corpus.ENTRIES)
    assert sum(e.family != "written here" for e in corpus.CORPUS) >= 20
    unexplained = [r["model"] for r in rows if r["verdict"] != "PASS" and r["model"] not in corpus.KNOWN]
    assert not unexplained, f"say in benchmarks/users.py's KNOWN why these do not pass: {unexplained}"
    stale = [name for name in corpus.KNOWN if next(r for r in rows if r["model"] == name)["verdict"] == "PASS"]
    assert not stale, f"these pass now: drop their lines from KNOWN: {stale}"
