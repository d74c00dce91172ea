"""Parity checks for your own models: export a torch.nn.Module or keras.Model to ONNX, run it on
ONNX Runtime per provider, and compare with the native outputs under the tolerance policy.

    import xdl
    report = xdl.check(my_module, np.random.rand(8, 3, 32, 32).astype("float32"))

The ONNX graph takes the inputs exactly as the model does (no layout change), named input_0,
input_1, ... with a dynamic batch dimension; its outputs are named output_0, output_1, ...
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np

from xdl import backends, report, verify
from xdl.errors import InputError, ParityError, first_line, missing_extra
from xdl.exporting import graph
from xdl.spec import Contract, TensorSpec, Tolerance


def load_factory(factory: str):
    """Imports MODULE from the working directory (as `python -m` would) and calls its FACTORY.

    Raises:
        InputError: not MODULE:FACTORY, or the user's module or factory fails (in one line).
    """
    target, _, attribute = factory.partition(":")
    if not attribute:
        raise InputError(f"{factory!r} is not MODULE:FACTORY, e.g. mypkg.models:build_net")
    sys.path.insert(0, os.getcwd())
    try:
        build = getattr(importlib.import_module(target), attribute)
    except SystemExit as exc:  # a script's sys.exit() at import: nothing was checked, so no exit 0
        raise InputError(f"cannot load {factory}: importing {target} called sys.exit({exc.code!r}); "
                         f"move the script's code under `if __name__ == '__main__':`") from None
    except Exception as exc:  # the user's module: missing, or raising while it is imported
        raise missing_extra(exc) or InputError(
            f"cannot load {factory}: {type(exc).__name__}: {first_line(exc)}") from None
    try:
        return build()
    except SystemExit as exc:  # returning nothing to check is a failure, whatever the code
        raise InputError(f"{factory}() called sys.exit({exc.code!r}) instead of returning a model; "
                         f"nothing was checked") from None
    except Exception as exc:  # the user's code: report it, do not crash with our traceback
        raise missing_extra(exc) or InputError(f"{factory}() failed: {type(exc).__name__}: {first_line(exc)}") from None


def random_inputs(shapes: list[tuple[int, ...]], seed: int) -> tuple[np.ndarray, ...]:
    """float32 inputs uniform in [0, 1) of the given shapes (batch first), seeded."""
    rng = np.random.default_rng(seed)
    return tuple(rng.uniform(0.0, 1.0, size=s).astype(np.float32) for s in shapes)


def framework_of(model) -> str:
    """"torch" or "keras", judged by the model's class (without importing either)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return "keras"
    raise InputError(f"xdl.check takes a torch.nn.Module or a keras.Model, not {type(model).__name__}")


def _as_arrays(example_inputs) -> list[np.ndarray]:
    inputs = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    arrays = []
    for i, x in enumerate(inputs):
        if not isinstance(x, np.ndarray):
            raise InputError(f"example input {i} is a {type(x).__name__}; pass numpy arrays")
        if x.ndim < 1 or len(x) < 1:
            raise InputError(f"example input {i} has shape {x.shape}; the first dimension is the batch")
        if x.dtype not in (np.float32, np.int64, np.int32):
            raise InputError(f"example input {i} is {x.dtype}; use float32 (or int64/int32 for ids)")
        if x.dtype == np.float32 and not np.isfinite(x).all():
            raise InputError(f"example input {i} holds NaN or Inf; parity needs finite inputs")
        arrays.append(x)
    if len({len(x) for x in arrays}) > 1:
        raise InputError(f"example inputs disagree on the batch size: {[len(x) for x in arrays]}")
    return arrays


def _native_outputs(fw, model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The model's own outputs for `inputs`: arrays of numbers with a batch dimension, finite.

    Raises:
        InputError: the model fails on the inputs, or returns what no comparison can judge.
    """
    try:
        expected = fw.run(model, inputs)
    except (Exception, SystemExit) as exc:  # the user's forward: a wrong --input-shape, or a bug in the model
        raise InputError(f"{type(model).__name__} fails on inputs of shape "
                         f"{', '.join(str(list(x.shape)) for x in inputs)}: {type(exc).__name__}: {first_line(exc)}; "
                         f"check the model and the input shapes") from None
    expected = [np.asarray(y) for y in expected]
    if not expected or any(y.ndim < 1 or y.dtype.kind not in "fiub" for y in expected):
        raise InputError(f"{type(model).__name__} must return arrays of numbers with a batch dimension")
    if any(y.dtype.kind == "f" and not np.isfinite(y).all() for y in expected):
        raise InputError(f"{type(model).__name__} outputs NaN or Inf on finite inputs; parity cannot be judged "
                         f"on them: fix the model")
    return expected


def _criteria(contract: Contract, provider: str, kind: str, override: Tolerance | None) -> dict:
    """What each output of a user's model is judged by: the policy's row for `kind` (or the
    override). The model has no task: the outputs' kind says whether they are class scores."""
    classes = verify.policy.outputs_are_classes(kinds=tuple(t.kind for t in contract.outputs))
    return {t.name: verify.policy.criteria_for(t.dtype, provider, kind, override=override, classes=classes)
            for t in contract.outputs}


def check(model, example_inputs, *, providers=("cpu",), required=(), kind: str = "logits",
          tolerance_override: Tolerance | None = None, raise_on_failure: bool = True) -> verify.Report:
    """Exports `model`, runs it on ONNX Runtime and compares with the native outputs.

    Args:
        model: a torch.nn.Module or a keras.Model (called in inference mode).
        example_inputs: a numpy array, or a tuple of them, as the model takes them (batch first).
        providers: ORT providers to check ("cpu", "cuda", "cuda-tf32"); one without a usable
            runtime is reported as skipped, unless it is also in `required`.
        kind: what the outputs are ("probabilities", "logits", "regression", "reconstruction"),
            which picks the tolerance (xdl/spec/tolerance.py); "logits" suits unbounded outputs.
        tolerance_override: replaces the policy's float32 numbers (give a reason).
        raise_on_failure: raise ParityError (or the environment error) unless everything passed.

    Returns:
        The Report: per provider, batch size and output, errors against the tolerance.

    Raises:
        InputError: not a supported model, or bad example inputs.
        ParityError / EnvironmentProblem: with raise_on_failure, when the report is not clean.
    """
    framework = framework_of(model)
    fw = backends.load(framework)
    inputs = _as_arrays(example_inputs)
    names = [f"input_{i}" for i in range(len(inputs))]
    expected = _native_outputs(fw, model, inputs)
    model_name = type(model).__name__
    contract = Contract(
        inputs=tuple(TensorSpec(n, (None, *x.shape[1:]), x.dtype.name) for n, x in zip(names, inputs)),
        outputs=tuple(TensorSpec(f"output_{i}", (None, *y.shape[1:]), y.dtype.name, kind=kind)
                      for i, y in enumerate(expected)),
    )
    try:
        proto = fw.export(model, contract, graph.OPSET)
    except (Exception, SystemExit) as exc:  # an op the exporter cannot convert: its traceback runs to 50 lines
        raise InputError(f"the {framework} exporter cannot export {model_name}: "
                         f"{type(exc).__name__}: {first_line(exc)}") from None
    model_bytes = graph.apply(proto, contract, {"xdl.model": model_name, "xdl.framework": framework}, name=model_name,
                              summary=f"user {framework} model {model_name}").SerializeToString()

    result = verify.Report()
    batches = sorted({1, len(inputs[0])})  # the example batch, and one row: proves the batch is dynamic
    for provider in verify.providers_to_check(providers, required):
        sess, why_not = verify.open_session(model_bytes, provider, required, model=model_name, framework=framework)
        if why_not:
            result.checks.append(why_not)
            continue
        criteria = _criteria(contract, provider, kind, tolerance_override)
        for n in batches:
            result.checks += verify.run_checks(
                sess, {name: x[:n] for name, x in zip(names, inputs)},
                {t.name: y[:n] for t, y in zip(contract.outputs, expected)},
                model=model_name, framework=framework, provider=provider, criteria=criteria,
            )
    if raise_on_failure and result.exit_code:
        failed = [c for c in result.checks if c.exit_code]
        error = ParityError(f"{model_name}: {len(failed)} check(s) failed; first: {report.check_line(failed[0]).strip()}")
        error.exit_code = result.exit_code
        error.report = result
        raise error
    return result
