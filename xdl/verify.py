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

from xdl import artifacts
from xdl.errors import EXIT_ENVIRONMENT, EXIT_INPUT, EXIT_OK, EXIT_PARITY, InputError, XdlError

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
    def exit_code(self) -> int:
        """0 when nothing failed; otherwise 2 (bad input) before 3 (environment) before 1."""
        codes = {c.exit_code for c in self.checks}
        for code in (EXIT_INPUT, EXIT_ENVIRONMENT, EXIT_PARITY):
            if code in codes:
                return code
        return EXIT_OK

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


def compare(actual: np.ndarray, expected: np.ndarray, atol: float, rtol: float, classifier: bool) -> Comparison:
    """Element-wise |actual - expected| <= atol + rtol * |expected|; NaN/Inf positions must match.

    For classifiers the top-1 agreement is reported too. It is not a second pass/fail rule:
    when every element is within tolerance, a row's argmax can only flip where its top two
    values were within 2 * tolerance of each other, a tie that no tolerance can decide.
    """
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    problems = []
    finite_a, finite_e = np.isfinite(a), np.isfinite(e)
    if any(not np.array_equal(test(a), test(e)) for test in (np.isnan, np.isposinf, np.isneginf)):
        problems.append("NaN/Inf positions differ")
    both = finite_a & finite_e
    diff = np.abs(a - e)[both]
    scale = np.abs(e)[both]
    max_abs = float(diff.max()) if diff.size else 0.0
    meaningful = scale > atol  # relative error of a value near 0 says nothing
    max_rel = float((diff[meaningful] / scale[meaningful]).max()) if meaningful.any() else 0.0
    over = int((diff > atol + rtol * scale).sum())
    if over:
        problems.append(f"{over} of {diff.size} values beyond atol {atol:g} + rtol {rtol:g}")
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
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the fallback warning is replaced by the check below
    providers = [(PROVIDERS[provider], _PROVIDER_OPTIONS.get(provider, {}))]
    if provider != "cpu":
        providers.append("CPUExecutionProvider")  # for the odd op without a CUDA kernel
    try:
        sess = ort.InferenceSession(model_bytes, options, providers=providers)
    except Exception as exc:  # ORT raises its own exception types
        if provider == "cpu":
            raise InputError(f"onnxruntime cannot load the model: {str(exc).splitlines()[0]}") from None
        raise EnvironmentProblem(f"{PROVIDERS[provider]} failed: {str(exc).splitlines()[0]}") from None
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
    return tuple(dict.fromkeys((*providers, *required)))


def open_session(model_bytes: bytes, provider: str, required, *, model: str, framework: str):
    """(a session really on `provider`, None), or (None, the Check saying why not): "skipped"
    when the provider is merely absent here and not required, "error" otherwise."""
    try:
        return session(model_bytes, provider), None
    except XdlError as exc:
        if exc.exit_code == EXIT_ENVIRONMENT and provider not in required:
            return None, Check(model, framework, provider, "skipped", detail=str(exc))
        return None, Check(model, framework, provider, "error", detail=str(exc), exit_code=exc.exit_code)


def _parse_model(model_bytes: bytes, where: Path) -> None:
    if not model_bytes:
        raise InputError(f"{where} is empty; re-run `xdl export`")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(model_bytes)
    except Exception as exc:  # protobuf's DecodeError
        raise InputError(f"{where} is not an ONNX model ({exc}); re-run `xdl export`") from None
    external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        # xdl never writes external data; a reference to another file is not an xdl artifact.
        raise InputError(f"{where} refers to external data ({external[0]}); refusing to load it")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise InputError(f"{where} is not a valid ONNX model: {str(exc).splitlines()[0]}") from None


def tolerances(manifest: dict, provider: str) -> dict[str, tuple[float, float]]:
    """(atol, rtol) per output for `provider`, as the artifact's manifest records the policy."""
    outputs = manifest["tolerance"]["outputs"]
    return {name: (by[provider]["atol"], by[provider]["rtol"]) for name, by in outputs.items()}


def run_checks(
    sess, inputs: dict, expected: dict, *, model: str, framework: str, provider: str,
    tolerances: dict[str, tuple[float, float]], classifier: bool,
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
        results = sess.run(want_out, inputs)
    except Exception as exc:  # ORT's InvalidArgument and friends
        return [Check(**base, status="error", exit_code=EXIT_INPUT,
                      detail=f"onnxruntime rejected the inputs: {str(exc).splitlines()[0]}")]
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
            c = compare(actual, want, atol, rtol, classifier)
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


def verify_artifact(folder: Path, providers=("cpu",), required=(), batch_sizes=DEFAULT_BATCH_SIZES) -> list[Check]:
    """Verifies one artifact folder on each provider at each batch size; never raises for a bad
    artifact. Batches are cut from (or repeat) the stored real test samples and their outputs."""
    label = Path(folder).parent.name, Path(folder).name
    try:
        art = artifacts.load(folder)
        _parse_model(art.model_bytes, art.folder / artifacts.MODEL_FILE)
    except XdlError as exc:
        return [Check(*label, provider="-", status="error", detail=str(exc), exit_code=exc.exit_code)]
    m = art.manifest
    flavour = artifacts.flavour(m)
    checks = []
    for provider in providers_to_check(providers, required):
        sess, why_not = open_session(art.model_bytes, provider, required, model=m["model"], framework=flavour)
        if why_not:
            checks.append(why_not)
            continue
        for n in batch_sizes:
            checks += run_checks(
                sess, _resize_batch(art.inputs, n), _resize_batch(art.outputs, n), model=m["model"],
                framework=flavour, provider=provider, tolerances=tolerances(m, provider),
                classifier=is_classifier(m),
            )
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
