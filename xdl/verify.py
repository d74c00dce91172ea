"""Parity verification of exported artifacts with ONNX Runtime.

Imports numpy, onnx and onnxruntime only: checking shipped artifacts needs no training
framework. Every check is recorded (names, then shapes, then values, per output and provider)
and the verdict comes once, at the end, as a ParityReport with an exit code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from xdl import artifacts, limits, registry, tolerance
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_PARITY, InputError, XdlError, first_failure, first_line

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "cuda-tf32": "CUDAExecutionProvider"}
# ORT's CUDA provider computes float32 matmuls/convs in TF32 by default (10-bit mantissa), which
# alone can exceed a 1e-5 tolerance: "cuda" checks true float32, "cuda-tf32" reports the
# default separately, under its own tolerance (xdl/tolerance.py).
_PROVIDER_OPTIONS = {"cuda": {"use_tf32": "0"}, "cuda-tf32": {"use_tf32": "1"}}


@dataclass
class Check:
    """One verdict: an artifact's output on one provider, or why it could not be checked."""

    model: str
    framework: str
    provider: str  # "cpu" | "cuda" | "-" when the artifact itself is unusable
    status: str  # "pass" | "fail" | "skipped" | "error"
    output: str = ""
    shape: list = field(default_factory=list)
    max_abs: float | None = None
    max_rel: float | None = None
    mean_abs: float | None = None
    p99_abs: float | None = None  # 99th percentile of |actual - expected|
    atol: float | None = None
    rtol: float | None = None
    argmax_agree: int | None = None
    argmax_total: int | None = None
    batch_size: int | None = None
    detail: str = ""  # the reason for skipped/error/fail, in one line
    exit_code: int = EXIT_OK  # what this check alone would make the process exit with


@dataclass
class ParityReport:
    checks: list[Check] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.checks)

    @property
    def nothing_checked(self) -> bool:
        """No comparison ran at all (no artifact, or every provider skipped): not a pass."""
        return not any(c.status in ("pass", "fail") for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 when something was compared and nothing failed; otherwise 2 (bad input) before 3
        (environment) before 1 (parity). Nothing compared is 3 when providers were skipped
        (the environment could not run them), else 2."""
        code = first_failure(c.exit_code for c in self.checks)
        if code == EXIT_OK and self.nothing_checked:
            return EXIT_ENVIRONMENT if self.count("skipped") else EXIT_INPUT
        return code

    def to_json(self) -> dict:
        return {
            "exit_code": self.exit_code,
            "summary": {s: self.count(s) for s in ("pass", "fail", "skipped", "error")},
            "checks": [asdict(c) for c in self.checks],
        }


@dataclass
class Comparison:
    max_abs: float
    max_rel: float
    ok: bool
    detail: str
    argmax_agree: int | None = None
    argmax_total: int | None = None
    mean_abs: float = 0.0
    p99_abs: float = 0.0


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float, classifier: bool,
            allow_nonfinite: bool = False) -> Comparison:
    """Element-wise |actual - expected| <= atol + rtol * |expected|.

    NaN or Inf on either side fails (NaN equals nothing, and a model whose outputs are all NaN
    must not pass with "max_abs 0"), unless `allow_nonfinite` (an output its spec says may hold
    them): then their positions must match. For classifiers the top-1 agreement is reported
    too. It is not a second pass/fail rule: when every element is within tolerance, a row's
    argmax can only flip where its top two values were within 2 * tolerance of each other, a
    tie that no tolerance can decide.

    Raises:
        InputError: a tolerance that is negative or not finite (it would pass anything).
    """
    if not (np.isfinite(atol) and np.isfinite(rtol) and atol >= 0 and rtol >= 0):
        raise InputError(f"tolerance atol {atol!r}, rtol {rtol!r} refused: both must be finite and >= 0")
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    problems = []
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if allow_nonfinite:
        if any(not np.array_equal(test(a), test(e)) for test in (np.isnan, np.isposinf, np.isneginf)):
            problems.append("NaN/Inf positions differ")
    elif not (finite_a.all() and finite_e.all()):
        problems.append(f"NaN/Inf in the outputs ({int((~finite_a).sum())} computed, {int((~finite_e).sum())} "
                        f"expected): no output may hold them")
    both = finite_a & finite_e
    diff = np.abs(a[both] - e[both])
    scale = np.abs(e)[both]
    max_abs = float(diff.max()) if diff.size else 0.0
    meaningful = scale > atol  # relative error of a value near 0 says nothing
    max_rel = float((diff[meaningful] / scale[meaningful]).max()) if meaningful.any() else 0.0
    over = int((diff > atol + rtol * scale).sum())
    if over:
        problems.append(f"{over} of {diff.size} values beyond atol {atol:g} + rtol {rtol:g}")
    if not a.size:
        problems.append("no values to compare")
    agree = total = None
    if classifier and e.ndim >= 2 and e.shape[-1] > 1:  # per sample, or per token for a tagger
        total, agree = int(np.prod(e.shape[:-1])), int((a.argmax(-1) == e.argmax(-1)).sum())
    mean_abs = float(diff.mean()) if diff.size else 0.0
    p99_abs = float(np.percentile(diff, 99)) if diff.size else 0.0
    return Comparison(max_abs, max_rel, not problems, "; ".join(problems), agree, total, mean_abs, p99_abs)


def is_classifier(manifest: dict) -> bool:
    """Whether an artifact's outputs are class probabilities (top-1 agreement is reported)."""
    return manifest.get("task") in ("classification", "tagging") and not manifest.get("part")


def provider_status(provider: str) -> tuple[bool, str]:
    """Whether ORT offers `provider` here, and why not when it does not."""
    import onnxruntime as ort

    name = PROVIDERS[provider]
    if name not in ort.get_available_providers():
        hint = " (install onnxruntime-gpu: pip install 'xdl[gpu]')" if provider != "cpu" else ""
        return False, f"this onnxruntime has no {name}{hint}"
    return True, ""


def session(model_bytes: bytes, provider: str):
    """Creates an ORT session that really runs on `provider`.

    Raises:
        XdlError (environment): the provider is absent or ORT fell back to CPU without it.
    """
    import onnxruntime as ort

    from xdl.errors import EnvironmentProblem

    usable, reason = provider_status(provider)
    if not usable:
        raise EnvironmentProblem(reason)
    options = limits.session_options()  # CPU memory capped; the fallback warning is replaced below
    providers = [(PROVIDERS[provider], _PROVIDER_OPTIONS.get(provider, {}))]
    if provider != "cpu":
        providers.append("CPUExecutionProvider")  # for the odd op without a CUDA kernel
    try:
        sess = ort.InferenceSession(model_bytes, options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types
        if provider == "cpu":
            raise InputError(f"onnxruntime cannot load the model: {first_line(exc, 300)}") from None
        raise EnvironmentProblem(f"{PROVIDERS[provider]} failed: {first_line(exc, 300)}") from None
    if sess.get_providers()[0] != PROVIDERS[provider]:
        raise EnvironmentProblem(
            f"{PROVIDERS[provider]} did not initialise (ORT fell back to {sess.get_providers()[0]}); "
            f"check the CUDA and cuDNN libraries"
        )
    return sess


def providers_to_check(providers, required=()) -> tuple[str, ...]:
    """The providers to run, required ones included (a required provider is always tried).

    Raises:
        InputError: an unknown provider name.
    """
    for p in (*providers, *required):
        if p not in PROVIDERS:
            raise InputError(f"unknown provider {p!r}; use one of: {', '.join(PROVIDERS)}")
    chosen = tuple(dict.fromkeys((*providers, *required)))
    if not chosen:
        raise InputError(f"no provider to run on: --providers is empty; use one or more of {', '.join(PROVIDERS)}")
    return chosen


def open_session(model_bytes: bytes, provider: str, required, *, model: str, framework: str):
    """(a session really on `provider`, None), or (None, the Check saying why not): "skipped"
    when the provider is merely absent here and not required, "error" otherwise."""
    try:
        return session(model_bytes, provider), None
    except XdlError as exc:
        if exc.exit_code == EXIT_ENVIRONMENT and provider not in required:
            return None, Check(model, framework, provider, "skipped", detail=str(exc))
        return None, Check(model, framework, provider, "error", detail=str(exc), exit_code=exc.exit_code)


def _subgraphs(graph: onnx.GraphProto):
    """The graph and every graph nested in its nodes' attributes (Loop, If and Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                yield from _subgraphs(sub)


def _external(tensor: onnx.TensorProto) -> bool:
    return tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0


def external_references(model: onnx.ModelProto) -> list[str]:
    """Names of every tensor stored outside the model: initializers (sparse ones too) of the
    graph and of every subgraph, and tensors held in node attributes (Constant's value...)."""
    found = []
    for graph in _subgraphs(model.graph):
        tensors = [*graph.initializer, *(s.values for s in graph.sparse_initializer)]
        for node in graph.node:
            for attribute in node.attribute:
                tensors += [*([attribute.t] if attribute.HasField("t") else []), *attribute.tensors]
                sparse = [*([attribute.sparse_tensor] if attribute.HasField("sparse_tensor") else []),
                          *attribute.sparse_tensors]
                tensors += [t for sp in sparse for t in (sp.values, sp.indices)]
        found += [t.name or "(unnamed)" for t in tensors if _external(t)]
    return found


def parse_model(model_bytes: bytes, where: Path) -> onnx.ModelProto:
    """Parses and checks a model; refuses one that refers to data outside itself.

    Raises:
        InputError: empty, not ONNX, external data anywhere, or invalid for onnx.checker.
    """
    if not model_bytes:
        raise InputError(f"{where} is empty; re-run `xdl export`")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(model_bytes)
    except Exception as exc:  # protobuf's DecodeError
        raise InputError(f"{where} is not an ONNX model ({type(exc).__name__}); re-run `xdl export`") from None
    external = external_references(model)
    if external:
        # xdl never writes external data; a reference to another file is not an xdl artifact.
        raise InputError(f"{where} refers to external data ({external[0][:80]!r}); refusing to load it")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # ValidationError, and what the checker raises on odder input
        raise InputError(f"{where} is not a valid ONNX model: {first_line(exc)}") from None
    return model


# Ops that only a quantized (int8) graph holds, from onnxruntime.quantization's dynamic and
# static (QDQ) modes, standard and com.microsoft.
_INT8_OPS = {"DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear", "MatMulInteger", "ConvInteger",
             "QLinearConv", "QLinearMatMul", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QGemm"}


def computing_dtype(model: onnx.ModelProto) -> str:
    """The precision a graph computes in, read from the graph itself (never from a manifest):
    "int8" if it quantizes, "float16" if it holds or casts to float16 tensors, else "float32"."""
    ops, half = set(), False
    for graph in _subgraphs(model.graph):
        ops |= {node.op_type for node in graph.node}
        half |= any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
        half |= any(node.op_type == "Cast" and any(a.name == "to" and a.i == onnx.TensorProto.FLOAT16
                                                    for a in node.attribute) for node in graph.node)
    if ops & _INT8_OPS:
        return "int8"
    return "float16" if half else "float32"


@dataclass
class Policy:
    """The tolerances one artifact is judged by on one provider, and where they came from."""

    tolerances: dict[str, tuple[float, float]]  # output name -> (atol, rtol)
    classifier: bool
    note: str = ""  # said in every check's line when the numbers are not simply the policy's
    nonfinite: tuple[str, ...] = ()  # outputs the registered spec says may hold NaN/Inf


def policy_for(manifest: dict, model: onnx.ModelProto, provider: str) -> Policy:
    """The tolerances from the policy in code, never loosened by what the artifact says.

    A registered model is judged by its spec (its override, if it states one) at the precision
    its graph computes in. Any other artifact's recorded numbers are used only where they are
    at least as strict as the policy's for its output kinds.

    Raises:
        InputError: the manifest disagrees with the graph or the registered spec, names an
            unknown output kind, or records a tolerance that is not a finite number >= 0.
    """
    computes = computing_dtype(model)
    variant = manifest.get("variant")
    claimed = "float32"
    if variant:
        if variant["name"] not in tolerance.VARIANT_DTYPES:
            raise InputError(f"unknown variant {variant['name'][:40]!r}; xdl makes {', '.join(tolerance.VARIANT_DTYPES)}")
        claimed = tolerance.VARIANT_DTYPES[variant["name"]]
    if claimed != computes:
        raise InputError(f"model.onnx computes in {computes}, the manifest says {claimed}; re-run `xdl export`")
    outputs = manifest["contract"]["outputs"]
    if manifest["model"] in registry.names():
        spec, part = registered_spec(manifest), manifest.get("part")
        want = [t.to_json() for t in (*spec.inputs, *spec.outputs)]
        have = [*manifest["contract"]["inputs"], *outputs]
        if [(t["name"], list(t["shape"]), t["dtype"]) for t in have] != \
                [(t["name"], t["shape"], t["dtype"]) for t in want]:
            raise InputError(f"the manifest's contract is not the registered {spec.name}'s; re-run `xdl export`")
        return Policy({t.name: tolerance.tolerance_for(computes, provider, t.kind, spec.tolerance_override).pair
                       for t in spec.outputs}, classifier=spec.task in ("classification", "tagging") and not part,
                      nonfinite=tuple(t.name for t in spec.outputs if t.nonfinite))
    # Not a registered model: the recorded numbers, bounded by the policy for the output's kind.
    chosen, bounded = {}, []
    for t in outputs:
        kind = t.get("kind")
        if kind not in tolerance.OUTPUT_KINDS:
            raise InputError(f"output {t['name'][:40]!r} has kind {str(kind)[:40]!r}; an unregistered model's "
                             f"outputs must state one of {', '.join(tolerance.OUTPUT_KINDS)}")
        policy = tolerance.tolerance_for(computes, provider, kind).pair
        try:
            recorded = manifest["tolerance"]["outputs"][t["name"]][provider]
            atol, rtol = float(recorded["atol"]), float(recorded["rtol"])
        except (KeyError, TypeError, ValueError):
            atol, rtol = policy
        if not (np.isfinite(atol) and np.isfinite(rtol) and atol >= 0 and rtol >= 0):
            raise InputError(f"the manifest's tolerance for {t['name'][:40]!r} ({atol!r}, {rtol!r}) is refused: "
                             f"tolerances must be finite and >= 0")
        if atol > policy[0] or rtol > policy[1]:
            bounded.append(t["name"])
        chosen[t["name"]] = (min(atol, policy[0]), min(rtol, policy[1]))
    note = f"tolerance bounded by the policy (the manifest asked for more for {', '.join(bounded)})" if bounded else ""
    return Policy(chosen, classifier=is_classifier(manifest), note=note)


def registered_spec(manifest: dict):
    """The spec of a registered model's artifact, or of the part (encoder, decoder) it holds.

    Raises:
        InputError: the model is not registered, or has no such part.
    """
    spec, part = registry.get(manifest["model"]), manifest.get("part")
    if not part:
        return spec
    if part not in [name for name, _, _ in spec.parts]:
        raise InputError(f"{spec.name} has no part {part[:40]!r}; re-run `xdl export`")
    return spec.part(part)


def tolerances(manifest: dict, provider: str) -> dict[str, tuple[float, float]]:
    """(atol, rtol) per output of a registered float32 model, from the policy in code."""
    spec = registered_spec(manifest)
    return {t.name: tolerance.tolerance_for("float32", provider, t.kind, spec.tolerance_override).pair
            for t in spec.outputs}


def run_checks(
    sess, inputs: dict, expected: dict, *, model: str, framework: str, provider: str,
    tolerances: dict[str, tuple[float, float]], classifier: bool, allow_nonfinite=(),
) -> list[Check]:
    """Runs `inputs` through an ORT session and compares each output: names, shapes, values."""
    base = dict(model=model, framework=framework, provider=provider)
    batch = len(next(iter(inputs.values())))
    want_in, have_in = sorted(inputs), sorted(i.name for i in sess.get_inputs())
    want_out = list(expected)
    have_out = [o.name for o in sess.get_outputs()]
    if want_in != have_in or want_out != have_out:
        return [Check(**base, status="fail", exit_code=EXIT_PARITY, detail=(
            f"I/O names differ from the contract: inputs {have_in} vs {want_in}, outputs {have_out} vs {want_out}"
        ))]
    try:
        results = limits.run(sess, want_out, inputs)
    except limits.RunTimeout as exc:
        return [Check(**base, status="error", exit_code=EXIT_INPUT, batch_size=batch, detail=str(exc))]
    except Exception as exc:  # ORT's InvalidArgument, a failed allocation over the memory cap...
        return [Check(**base, status="error", exit_code=EXIT_INPUT, batch_size=batch,
                      detail=f"onnxruntime rejected the inputs: {first_line(exc, 300)}")]
    checks = []
    for name, actual in zip(want_out, results):
        want = expected[name]
        atol, rtol = tolerances[name]
        check = Check(**base, status="pass", output=name, shape=list(actual.shape), batch_size=batch,
                      atol=atol, rtol=rtol)
        if actual.shape != want.shape:
            check.status, check.exit_code = "fail", EXIT_PARITY
            check.detail = f"shape {list(actual.shape)} != expected {list(want.shape)}"
        else:
            c = compare(actual, want, atol, rtol, classifier, allow_nonfinite=name in allow_nonfinite)
            check.max_abs, check.max_rel = c.max_abs, c.max_rel
            check.argmax_agree, check.argmax_total = c.argmax_agree, c.argmax_total
            check.mean_abs, check.p99_abs = c.mean_abs, c.p99_abs
            if not c.ok:
                check.status, check.exit_code, check.detail = "fail", EXIT_PARITY, c.detail
        checks.append(check)
    return checks


DEFAULT_BATCH_SIZES = (1, 2, 7, 64)  # odd and power-of-two sizes: catches a batch dim baked in


def _resize_batch(arrays: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The first n rows, repeating the stored rows when n is larger (each row is independent)."""
    return {k: np.resize(a, (n, *a.shape[1:])) for k, a in arrays.items()}


def guard_batch(arrays: list[dict[str, np.ndarray]], n: int, what: str) -> None:
    """Refuses a batch size whose inputs and outputs (kept twice: expected and computed) would
    not fit under the memory limit, before anything is allocated."""
    per_row = sum(a[:1].nbytes for group in arrays for a in group.values())
    limits.check_bytes(2.0 * per_row * n, what)


def verify_artifact(folder: Path, providers=("cpu",), required=(), batch_sizes=DEFAULT_BATCH_SIZES) -> list[Check]:
    """Verifies one artifact folder on each provider at each batch size; never raises for a bad
    artifact. Batches are cut from (or repeat) the stored real test samples and their outputs."""
    label = Path(folder).parent.name, Path(folder).name
    try:
        art = artifacts.load(folder)
        model = parse_model(art.model_bytes, art.folder / artifacts.MODEL_FILE)
        policies = {p: policy_for(art.manifest, model, p) for p in providers_to_check(providers, required)}
        for n in batch_sizes:
            guard_batch([art.inputs, art.outputs], n, f"batch size {n}")
    except XdlError as exc:
        return [Check(*label, provider="-", status="error", detail=str(exc), exit_code=exc.exit_code)]
    m = art.manifest
    flavour = artifacts.flavour(m)
    checks = []
    for provider, policy in policies.items():
        sess, why_not = open_session(art.model_bytes, provider, required, model=m["model"], framework=flavour)
        if why_not:
            checks.append(why_not)
            continue
        for n in batch_sizes:
            found = run_checks(
                sess, _resize_batch(art.inputs, n), _resize_batch(art.outputs, n), model=m["model"],
                framework=flavour, provider=provider, tolerances=policy.tolerances, classifier=policy.classifier,
                allow_nonfinite=policy.nonfinite,
            )
            for check in found:
                if policy.note:
                    check.detail = "; ".join(filter(None, [check.detail, policy.note]))
            checks += found
    return checks


def verify_paths(paths, providers=("cpu",), required=(), batch_sizes=DEFAULT_BATCH_SIZES) -> ParityReport:
    """Verifies every artifact at or under `paths`.

    Raises:
        InputError: a path does not exist or holds no artifact; an unknown provider name.
    """
    providers = providers_to_check(providers, required)
    if not batch_sizes or any(n < 1 for n in batch_sizes):
        raise InputError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    report = ParityReport()
    for folder in artifacts.find(paths):
        report.checks += verify_artifact(folder, providers, required, batch_sizes)
    return report
