"""Verification of exported artifacts with ONNX Runtime.

Imports numpy, onnx and onnxruntime only (import-linter holds that): checking shipped artifacts
needs no training framework. Every check is recorded (names, then shapes, then values, per output
and provider) and the verdict comes once, at the end, as a Report with an exit code.

The modules: model.py reads a model.onnx safely; policy.py builds the Criteria each output is
judged by; sessions.py opens ONNX Runtime on a provider; compare.py holds judge(), the one
comparison of computed outputs against a reference; results.py holds the checks and report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from xdl import artifacts, limits, signing
from xdl.errors import EXIT_INPUT, EXIT_PARITY, InputError, XdlError, first_line
from xdl.spec import tasks
from xdl.verify import policy
from xdl.verify.compare import Comparison, judge
from xdl.verify.model import computing_dtype, external_references, parse_model
from xdl.verify.policy import Criteria, registered_spec
from xdl.verify.results import STATUSES, VERDICT_EXIT, Check, Report
from xdl.verify.sessions import (
    PROVIDERS,
    open_session,
    provider_status,
    providers_to_check,
    session,
)

__all__ = [
    "DEFAULT_BATCH_SIZES", "PROVIDERS", "STATUSES", "Check", "Comparison", "Criteria", "Report", "computing_dtype",
    "external_references", "guard_batch", "judge", "open_session", "parse_model", "policy", "provider_status",
    "providers_to_check", "registered_spec", "run_checks", "session", "verify_artifact", "verify_paths",
]


def run_checks(
    sess, inputs: dict, expected: dict, *, model: str, framework: str, provider: str,
    criteria: dict[str, Criteria],
) -> list[Check]:
    """Runs `inputs` through an ORT session and judges each output (names, then shapes and
    values) by its criteria (xdl/verify/policy.py); their notes are said in every check's line."""
    base = dict(model=model, framework=framework, provider=provider)
    notes = "; ".join(dict.fromkeys(c.note for c in criteria.values() if c.note))
    batch = len(next(iter(inputs.values())))
    want_in, have_in = sorted(inputs), sorted(i.name for i in sess.get_inputs())
    want_out = list(expected)
    have_out = [o.name for o in sess.get_outputs()]
    if want_in != have_in or want_out != have_out:
        return [Check(**base, status="fail", exit_code=EXIT_PARITY, detail="; ".join(filter(None, [
            f"I/O names differ from the contract: inputs {have_in} vs {want_in}, outputs {have_out} vs {want_out}",
            notes])))]
    try:
        results = limits.run(sess, want_out, inputs)
    except limits.RunTimeout as exc:
        return [Check(**base, status="error", exit_code=EXIT_INPUT, batch_size=batch,
                      detail="; ".join(filter(None, [str(exc), notes])))]
    except Exception as exc:  # ORT's InvalidArgument, a failed allocation over the memory cap...
        return [Check(**base, status="error", exit_code=EXIT_INPUT, batch_size=batch, detail="; ".join(filter(None, [
            f"onnxruntime rejected the inputs: {first_line(exc, 300)}", notes])))]
    judged = {name: judge(actual, expected[name], criteria[name]) for name, actual in zip(want_out, results)}
    # An output without signal of its own (a constant mask, an argmax alike in every row of an
    # untrained net) passes beside another output of the same run that carries signal and passes:
    # the run shows that the graph follows the inputs, and this output matched too. A run none of
    # whose outputs carries signal is empty (exit 3).
    carriers = [name for name, c in judged.items() if c.verdict == "pass"]
    checks = []
    for (name, c), actual in zip(judged.items(), results):
        verdict, empty = c.verdict, c.empty
        if verdict == "empty" and carriers:
            verdict = "pass"
            empty = (f"no signal in this output alone (alike in every row, or within the tolerance of 0); compared "
                     f"beside {', '.join(carriers)}, which carr{'ies' if len(carriers) == 1 else 'y'} it")
        checks.append(Check(
            **base, status=verdict, output=name, shape=list(actual.shape), max_abs=c.max_abs,
            max_rel=c.max_rel, mean_abs=c.mean_abs, p99_abs=c.p99_abs, max_expected=c.magnitude,
            atol=criteria[name].atol, rtol=criteria[name].rtol, argmax_agree=c.argmax_agree,
            argmax_total=c.argmax_total, batch_size=batch,
            detail="; ".join(filter(None, [empty, c.detail, criteria[name].note])), exit_code=VERDICT_EXIT[verdict]))
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


def own_batch_sizes(art) -> tuple[int, ...]:
    """The batch sizes an artifact is verified at when none are asked for: DEFAULT_BATCH_SIZES;
    for a user's model saved by `xdl check --save`, the runs check judged it on, its first row
    and its whole example (cut or repeated rows of a user's example could make a verdict check
    did not give: two equal first rows, one row repeated, are empty)."""
    if not tasks.is_users(art.manifest.task):
        return DEFAULT_BATCH_SIZES
    rows = len(next(iter(art.inputs.values())))
    return 1, max(rows, 2)  # a saved single row: check said empty, and so does that row repeated


def verify_artifact(folder: Path, providers=("cpu",), required=(), batch_sizes=None,
                    signatures: signing.Verifier | None = None) -> list[Check]:
    """Verifies one artifact folder on each provider at each batch size (None: own_batch_sizes);
    never raises for a bad artifact. Batches are cut from (or repeat) the stored real test
    samples and their outputs. With `signatures`, the folder's signature is checked first, before
    anything in it is parsed, and an unsigned folder fails."""
    where = Path(folder).absolute()  # "art", not "/art", for a folder given relative to the working one
    label = where.parent.name, where.name
    try:
        signed = signatures.check(folder) if signatures else None
        art = artifacts.load(folder)
        if signed:
            signed.confirm(art)
        model = parse_model(art.model_bytes, art.folder / artifacts.MODEL_FILE)
        policies = {p: policy.for_artifact(art.manifest, model, p) for p in providers_to_check(providers, required)}
        batch_sizes = batch_sizes or own_batch_sizes(art)
        for n in batch_sizes:
            guard_batch([art.inputs, art.outputs], n, f"batch size {n}")
    except XdlError as exc:
        return [Check(*label, provider="-", status="error", detail=str(exc), exit_code=exc.exit_code)]
    flavour = artifacts.flavour(art.manifest)
    signature_note = signed.note if signed else signing.unchecked_note(folder)
    with limits.shared_budget():  # --timeout bounds the artifact, not each batch size (xdl/limits.py)
        return _run_artifact(art, policies, required, batch_sizes, flavour, signature_note)


def _run_artifact(art, policies, required, batch_sizes, flavour, signature_note) -> list[Check]:
    m = art.manifest
    checks = []
    for provider, criteria in policies.items():
        sess, why_not = open_session(art.model_bytes, provider, required, model=m.model, framework=flavour)
        if why_not:
            checks.append(why_not)
            continue
        for i, n in enumerate(batch_sizes):
            if limits.budget_spent():  # say once what was not run, then stop: the time is gone
                checks.append(Check(m.model, flavour, provider, "error", exit_code=EXIT_INPUT, detail=(
                    f"batch sizes {', '.join(map(str, batch_sizes[i:]))} (and any provider after this one) not run: "
                    f"this artifact's runs used up the {limits.current().run_timeout:g} s limit together")))
                return checks
            found = run_checks(
                sess, _resize_batch(art.inputs, n), _resize_batch(art.outputs, n), model=m.model,
                framework=flavour, provider=provider, criteria=criteria,
            )
            for check in found:
                check.detail = "; ".join(filter(None, [check.detail, signature_note]))
            checks += found
    return checks


def verify_paths(paths, providers=("cpu",), required=(), batch_sizes=None,
                 signatures: signing.Verifier | None = None) -> Report:
    """Verifies every artifact at or under `paths` at `batch_sizes` (None: each artifact's own,
    own_batch_sizes); with `signatures`, each must be signed by its key.

    Raises:
        InputError: a path does not exist or holds no artifact; an unknown provider name.
    """
    providers = providers_to_check(providers, required)
    if batch_sizes is not None and (not batch_sizes or any(n < 1 for n in batch_sizes)):
        raise InputError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    report = Report()
    for folder in artifacts.find(paths):
        report.checks += verify_artifact(folder, providers, required, batch_sizes, signatures)
    return report
