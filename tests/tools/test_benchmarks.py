"""Every committed benchmark table covers the registry: each registered model has its rows, or is
listed as not measured with the reason. A model added without them fails here, not in a reader's
eyes months later (results-cpu.json once lacked similarity, dqn and gan)."""

import json

import pytest

from conftest import ROOT
from xdl.spec import registry

BENCH = ROOT / "benchmarks"


def _json(name: str) -> dict:
    return json.loads((BENCH / name).read_text())


def _reasons(not_measured: dict) -> dict:
    for what, why in not_measured.items():
        assert isinstance(why, str) and len(why) > 20, f"{what}: not measured, without a reason"
    return not_measured


# each committed JSON table: the models its rows measure, and those it names as not measured
TABLES = {
    "results-cpu.json": lambda r: ({t["model"] for t in r["timings"]}, {}),
    "routes-cpu.json": lambda r: ({x["model"] for x in r["routes"]}, {}),
    "scaling-cpu.json": lambda r: ({x["model"] for x in r["rows"]}, _reasons(r.get("not_measured", {}))),
}


@pytest.mark.parametrize("name", TABLES)
def test_every_json_table_covers_every_model(name):
    measured, not_measured = TABLES[name](_json(name))
    models = set(registry.names())
    assert not measured - models, f"{name} measures unregistered models {sorted(measured - models)}"
    assert not measured & set(not_measured), f"{name}: both measured and not: {sorted(measured & set(not_measured))}"
    missing = models - measured - set(not_measured)
    assert not missing, f"{name} lacks {sorted(missing)}: measure them (benchmarks/README.md) or list them as not measured"


def test_the_bench_table_has_every_path_or_the_reason_it_is_missing():
    """Per model: both frameworks' inference paths at every batch size, ORT on both exports, the
    ORT options sweep, and each training step timed or skipped with the reason."""
    r = _json("results-cpu.json")
    timed = {(t["model"], t["path"], t["batch"]) for t in r["timings"]}
    skipped = r["skipped"]
    for reason in skipped.values():
        assert reason.strip()
    for model in registry.names():
        for batch in r["settings"]["batch_sizes"]:
            for path in ("keras model(x)", "keras tf.function", "keras predict", "torch eager",
                         "ort-cpu[keras]", "ort-cpu[torch]"):
                assert (model, path, batch) in timed, f"results-cpu.json: {model} {path} at batch {batch}"
        for framework in registry.FRAMEWORKS:
            step = f"{framework} training step"
            assert any(m == model and p == step for m, p, _ in timed) or f"{model} {step}" in skipped, \
                f"results-cpu.json: {model}'s {step} neither timed nor skipped with a reason"
        assert {o["model"] for o in r["ort_options"]} >= {model}, f"results-cpu.json: no ORT sweep of {model}"
        assert any(t["model"] == model for t in r["targets"]), f"results-cpu.json: no targets for {model}"


def test_the_bench_text_is_the_bench_json_rendered():
    from xdl.tools import bench

    text = (BENCH / "results-cpu.txt").read_text()
    assert text.startswith(bench.render(_json("results-cpu.json")) + "\n"), \
        "benchmarks/results-cpu.txt is not benchmarks/results-cpu.json rendered by `xdl bench`"


def test_every_text_table_names_every_model():
    """The Markdown and text renderings: each model in a row, or named as not measured (in the
    table itself, or in the JSON it is rendered from, where the renderer shows measured rows only)."""
    scaling = _json("scaling-cpu.json")
    texts = {
        "results-cpu.txt": (lambda line, m: line.startswith(f"{m} "), set()),
        "routes-cpu.md": (lambda line, m: line.startswith(f"| {m} |") or line.startswith(f"| `{m}` |"), set()),
        "scaling-cpu.md": (lambda line, m: line.startswith(f"| {m} |"), set(scaling.get("not_measured", {}))),
        "variants-cpu.txt": (lambda line, m: line.startswith(f"{m}/") or line.startswith(f"{m}: not measured: "),
                             set()),
    }
    for name, (names, elsewhere) in texts.items():
        lines = (BENCH / name).read_text().splitlines()
        missing = [m for m in registry.names() if m not in elsewhere and not any(names(line, m) for line in lines)]
        assert not missing, f"benchmarks/{name} lacks {missing}: measure them or list them as not measured"
