"""`xdl routes`: every route to ONNX that exists here, compared on the same trained weights.

For each model and route: whether it exports (or the exporter's one-line error), the graph it
makes (node count, op histogram), its outputs against the native twin on the real test samples
and on fuzzed inputs (max abs error, and the verdict under the model's tolerance policy),
whether the same weights export to the same bytes twice, ONNX Runtime CPU latency at batch 1 and
64, whether onnx's reference evaluator runs it and agrees with ORT, and which opsets the route
produces (each verified on ORT the same way).

The weights are the ones committed with the shipped artifacts (exported_models/<model>/<fw>/),
the test samples theirs; the whole model is compared (the autoencoder's parts are exported
the same way). The routes themselves live in the back ends (EXPORT_ROUTES).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from xdl import artifacts, backends, exporting, models, verify
from xdl.errors import EXIT_OK, EXIT_PARITY, first_line
from xdl.exporting import graph, optimise
from xdl.parity import live
from xdl.spec import registry
from xdl.timing import measure
from xdl.tools.bench import environment

SHIPPED_OPSET = graph.OPSET
OPSETS = (17, 18, 19, 20, 21)
FUZZ = 61  # random inputs; with the domain's 3 edge cases, a batch of 64
REFERENCE_SAMPLES = 8  # onnx.reference interprets in Python: a Loop over 64 samples is slow
TIMING_BUDGET_S = 0.4  # per latency figure and round: a batch-64 ResNet call gets fewer repetitions
ROUNDS = 5  # a model's routes are timed in turns, this many times


@dataclass
class Route:
    model: str
    framework: str
    route: str
    shipped: bool
    exporter: str  # as manifests name it, with its version
    optimisation: list = field(default_factory=list)  # xdl's rewrites and passes applied (none: the exporter's graph)
    error: str = ""  # why it did not export (the exporter's or the contract check's line)
    export_s: float = 0.0
    nodes: int = 0  # top-level nodes; `ops` counts subgraphs (a Loop's body) too
    ops: dict = field(default_factory=dict)
    atol: float = 0.0
    rtol: float = 0.0
    test_max_abs: float | None = None  # vs the native twin, real test samples
    fuzz_max_abs: float | None = None  # vs the native twin, fuzzed inputs and edge cases
    verifies: bool = False  # both within the model's tolerance
    problem: str = ""  # where they are not, the first reason
    deterministic: bool = False  # a second export gave the same bytes
    b1_ms: float | None = None  # ORT CPU p50
    b64_ms: float | None = None
    reference: str = ""  # onnx.reference: "agrees", or what went wrong
    opsets: dict = field(default_factory=dict)  # "17": "verifies" or what went wrong


@dataclass
class _Samples:
    """One twin's inputs (stored form) and its native outputs (contract layout)."""

    test: np.ndarray
    test_expected: np.ndarray
    fuzz: np.ndarray
    fuzz_expected: np.ndarray


def compare_model(model: str, *, opsets=OPSETS, reps: int = 200, out="exported_models", seed: int = 0) -> list[Route]:
    """Every route of both frameworks for one model, on its committed weights."""
    spec = registry.get(model)
    rows, timed = [], []  # timed: (row, ORT session, feeds by batch size), timed together at the end
    for framework in registry.FRAMEWORKS:
        fw = backends.load(framework)
        art = artifacts.load(Path(out) / model / framework)
        net = models.build(spec, framework)
        fw.load_weights(net, art.folder / fw.WEIGHTS_FILE)
        x_test = spec.from_feeds(art.inputs)
        lengths = spec.expectations.seq_lengths or (None,)
        x_fuzz = live.fuzz_inputs(spec, FUZZ, np.random.default_rng(seed), max(lengths) if lengths[0] else None)
        samples = _Samples(x_test, fw.predict(net, spec, x_test), x_fuzz, fw.predict(net, spec, x_fuzz))
        criteria = verify.policy.for_manifest(art.manifest, "cpu")[spec.output.name]
        atol, rtol = criteria.pair
        for route in fw.EXPORT_ROUTES:
            shipped = route == fw.EXPORT_ROUTES[0]
            row = Route(model, framework, route, shipped, _exporter(fw, route), atol=atol, rtol=rtol)
            _measure_route(row, spec, fw, net, samples, criteria, opsets, timed)
            rows.append(row)
            if row.error or not row.verifies or not row.optimisation:
                row.optimisation = []  # export keeps an optimised graph only where it verifies
                continue
            # the exporter's graph, then xdl's optimised one (what `xdl export` ships when it verifies)
            better = Route(model, framework, route, shipped, row.exporter, row.optimisation, atol=atol, rtol=rtol)
            row.shipped, row.optimisation = False, []
            _measure_route(better, spec, fw, net, samples, criteria, opsets, timed)
            rows.append(better)
    _time_together(timed, reps)
    return rows


def _exporter(fw, route: str) -> str:
    v = fw.versions(route)
    return f"{v['exporter']} {v['exporter_version']}"


def _measure_route(row: Route, spec, fw, net, samples: _Samples, criteria: verify.Criteria, opsets,
                   timed: list) -> None:
    """Fills `row` in. A first (exporter's graph) row also learns which optimisation steps would
    change its graph: a second row measures the optimised graph when there are any."""
    optimised = bool(row.optimisation)
    start = time.perf_counter()
    try:
        proto = exporting.to_onnx(spec, row.framework, net, route=row.route, optimised=optimised)
        sess = verify.session(proto.SerializeToString(), "cpu")
    except Exception as exc:  # exporters raise anything; the row records it
        row.error = first_line(exc, 240)
        return
    row.export_s = round(time.perf_counter() - start, 2)
    row.nodes, row.ops = len(proto.graph.node), graph.op_counts(proto)
    if not optimised:
        row.optimisation = optimise.optimise(proto)[1]
    again = exporting.to_onnx(spec, row.framework, net, route=row.route, optimised=optimised)
    row.deterministic = again.SerializeToString() == proto.SerializeToString()
    row.test_max_abs, test_problem = _agreement(sess, spec, samples.test, samples.test_expected, criteria)
    row.fuzz_max_abs, fuzz_problem = _agreement(sess, spec, samples.fuzz, samples.fuzz_expected, criteria)
    row.verifies = not (test_problem or fuzz_problem)
    row.problem = test_problem and f"test samples: {test_problem}" or fuzz_problem and f"fuzzed inputs: {fuzz_problem}"
    timed.append((row, sess, {n: spec.feeds(_batch(samples.test, n)) for n in (1, 64)}))
    row.reference = _reference(proto, sess, spec.feeds(samples.test[:REFERENCE_SAMPLES]), criteria)
    for opset in opsets:
        row.opsets[str(opset)] = (f"does not verify: {row.problem}" if row.problem else "verifies") \
            if opset == graph.OPSET else _opset_verdict(spec, row, net, samples, opset, criteria, optimised)


def _agreement(sess, spec, x, expected, criteria: verify.Criteria) -> tuple[float | None, str]:
    """(max abs error, "" or what is wrong) of the export's outputs against the native ones."""
    c = verify.judge(sess.run(None, spec.feeds(x))[0], expected, criteria)
    return c.max_abs, "" if c.ok else c.detail


def _batch(x: np.ndarray, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.resize(x, (n, *x.shape[1:])))


def _time_together(timed: list, reps: int, rounds: int = ROUNDS) -> None:
    """Each route's ORT CPU p50 at batch 1 and 64, as the median of `rounds` p50s taken in turns
    with the model's other routes: a shared machine's speed drifts over minutes, and routes
    timed minutes apart were once 50% apart for the same graph."""
    for n in (1, 64):
        p50s: dict[int, list[float]] = {i: [] for i in range(len(timed))}
        for _ in range(rounds):
            for i, (_, sess, feeds) in enumerate(timed):
                p50s[i].append(_latency(sess, feeds[n], max(1, reps // rounds)))
        for i, (row, _, _) in enumerate(timed):
            setattr(row, f"b{n}_ms", float(np.median(p50s[i])))


def _latency(sess, feeds: dict, reps: int) -> float:
    """p50 in ms, with as many repetitions (up to `reps`) as fit the timing budget."""
    start = time.perf_counter()
    sess.run(None, feeds)
    once = max(time.perf_counter() - start, 1e-6)
    n = int(min(reps, max(5, TIMING_BUDGET_S / once)))
    return measure(lambda: sess.run(None, feeds), reps=n, warmup=min(5, n))[0]


def _reference(proto, sess, feeds: dict, criteria: verify.Criteria) -> str:
    """Whether onnx's own reference evaluator runs the graph and agrees with ORT."""
    from onnx.reference import ReferenceEvaluator

    try:
        ours = ReferenceEvaluator(proto).run(None, feeds)[0]
    except Exception as exc:  # its missing kernels and shape errors alike
        return f"fails: {first_line(exc, 160)}"
    c = verify.judge(np.asarray(ours), sess.run(None, feeds)[0], criteria)
    if c.max_abs is None:  # the shapes differ
        return f"differs: {c.detail}"
    return "agrees" if c.ok else f"differs: max abs {c.max_abs:.1e}"


def _opset_verdict(spec, row: Route, net, samples: _Samples, opset: int, criteria: verify.Criteria,
                   optimised: bool) -> str:
    try:
        proto = exporting.to_onnx(spec, row.framework, net, route=row.route, opset=opset, optimised=optimised)
        sess = verify.session(proto.SerializeToString(), "cpu")
    except Exception as exc:
        return f"fails: {first_line(exc, 160)}"
    made = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if made != opset:
        return f"made opset {made}"
    problem = _agreement(sess, spec, samples.test, samples.test_expected, criteria)[1]
    problem = problem or _agreement(sess, spec, samples.fuzz, samples.fuzz_expected, criteria)[1]
    return f"does not verify: {problem}" if problem else "verifies"


def run(models: list[str], *, opsets=OPSETS, reps: int = 200, out="exported_models", progress=None) -> dict:
    """Every route for every model in `models`, as one JSON-able dict."""
    rows = []
    for model in models:
        if progress:
            progress(model)
        rows += compare_model(model, opsets=opsets, reps=reps, out=out)
    return {
        "environment": environment(),
        "settings": {"opsets": list(opsets), "shipped_opset": graph.OPSET, "fuzzed_inputs": FUZZ + 3,
                     "reference_samples": REFERENCE_SAMPLES, "reps_at_most": reps},
        "routes": [asdict(r) for r in rows],
    }


def exit_code(result: dict) -> int:
    """1 when a shipped route fails to export or does not verify: that is what xdl vouches for.
    Another route that cannot export a model, or exports it wrong, is a finding, reported."""
    bad = [r for r in result["routes"] if r["shipped"] and (r["error"] or not r["verifies"])]
    return EXIT_PARITY if bad else EXIT_OK


def render(result: dict) -> str:
    """The comparison as Markdown: one row per route, the op histograms, and what went wrong
    (each finding once, with the models it was seen on)."""
    from xdl.report import markdown_table, markdown_text

    rows, ops, notes = [], [], {}
    for r in result["routes"]:
        name = f"{r['framework']} {r['route']}" + (" + xdl optimise" if r["optimisation"] else "")
        where = [r["model"], r["framework"], name.split(" ", 1)[1] + (" (shipped)" if r["shipped"] else "")]
        findings = [(name, r["error"])] if r["error"] else [(name, f"does not verify: {r['problem']}")] if r["problem"] else []
        if not r["error"]:
            findings += [(f"{name}, opset {o}", v) for o, v in r["opsets"].items()
                         if v != "verifies" and not (r["problem"] and int(o) == result["settings"]["shipped_opset"])]
            findings += [(f"{name}, onnx.reference", r["reference"])] if r["reference"] != "agrees" else []
        for finding in findings:
            notes.setdefault(finding, []).append(r["model"])
        if r["error"]:
            rows.append([*where, "no", *["-"] * 8])
            continue
        fine = [o for o, verdict in r["opsets"].items() if verdict == "verifies"]
        errors = " / ".join("-" if e is None else f"{e:.1e}" for e in (r["test_max_abs"], r["fuzz_max_abs"]))
        rows.append([*where, "yes", str(r["nodes"]), f"{errors} ({r['atol']:g})",
                     "yes" if r["verifies"] else "NO", "yes" if r["deterministic"] else "no",
                     f"{r['b1_ms']:.3f}", f"{r['b64_ms']:.3f}", r["reference"].split(":")[0], " ".join(fine) or "none"])
        ops.append([*where, ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items()))])
    head = ["model", "framework", "route", "exports", "nodes", "max abs: test / fuzzed (atol)", "verifies",
            "same bytes twice", "ORT b1 ms", "ORT b64 ms", "onnx.reference", "opsets verified"]
    parts = [markdown_table(head, rows), "", _optimisation_table(result), "",
             markdown_table(["model", "framework", "route", "ops (Loop bodies included)"], ops)]
    if notes:
        parts += ["", "What did not work, each finding once:", ""]
        parts += [f"- {where}: {markdown_text(text)} ({', '.join(models)})" for (where, text), models in notes.items()]
    return "\n".join(parts)


def _optimisation_table(result: dict) -> str:
    """Per model, what xdl's optimisation did to the shipped Keras route's graph, and the Keras
    export's latency over the shipped PyTorch export's before and after (same run)."""
    from xdl.report import markdown_table

    rows = []
    for model in dict.fromkeys(r["model"] for r in result["routes"]):
        mine = [r for r in result["routes"] if r["model"] == model and r["framework"] == "keras"
                and r["route"] == "tf2onnx" and not r["error"]]
        torch = next((r for r in result["routes"] if r["model"] == model and r["framework"] == "torch" and r["shipped"]), None)
        if not mine or torch is None or torch["error"]:
            continue
        raw, shipped = mine[0], mine[-1]

        def ratio(r, n):
            return f"{r[f'b{n}_ms'] / torch[f'b{n}_ms']:.2f}"

        rows.append([model, f"{raw['nodes']} → {shipped['nodes']}", ", ".join(shipped["optimisation"]) or "none",
                     f"{ratio(raw, 1)} → {ratio(shipped, 1)}", f"{ratio(raw, 64)} → {ratio(shipped, 64)}"])
    return markdown_table(["model", "Keras nodes", "rewrites and passes applied",
                           "Keras / PyTorch export on ORT, batch 1", "batch 64"], rows)
