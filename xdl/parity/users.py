"""Parity checks for your own models: export a torch.nn.Module or keras.Model to ONNX, run it on
ONNX Runtime per provider, and compare with the native outputs under the tolerance policy.

    import xdl
    report = xdl.check(my_module, np.random.rand(8, 3, 32, 32).astype("float32"))
    report = xdl.check(gpt, {"input_ids": ids, "attention_mask": mask}, dynamic={"input_ids": 1, "attention_mask": 1})

The ONNX graph takes the inputs exactly as the model does (no layout change): by position, named
input_0, input_1..., or by name (a dict of arrays: keyword arguments, the keys the ONNX input
names), with a dynamic batch dimension and the extra dynamic axes asked for. Its outputs are the
model's, flattened and named by xdl.backends.named_outputs (`output_0`, `logits`, `output_1.0`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback

import numpy as np
import onnx

from xdl import backends, report, verify
from xdl.errors import EXIT_ENVIRONMENT, InputError, NothingCompared, ParityError, first_line, missing_extra
from xdl.exporting import capture, graph
from xdl.parity import saving
from xdl.spec import Contract, TensorSpec, Tolerance


def load_factory(factory: str, debug: bool = False):
    """Imports MODULE from the working directory (as `python -m` would) and calls its FACTORY,
    with what they print captured (TensorFlow announces its CPU kernels on stderr as it is
    imported, past TF_CPP_MIN_LOG_LEVEL): `debug` writes it to stderr.

    Raises:
        InputError: not MODULE:FACTORY, or the user's module or factory fails (in one line).
    """
    log = capture.Captured()
    try:
        with capture.captured() as log:
            return _load_factory(factory)
    finally:
        _show(log, debug, f"loading {factory}")


def _show(log: capture.Captured, debug: bool, what: str) -> None:
    if debug and log.text.strip():
        sys.stderr.write(f"xdl: what was written while {what}:\n{log.text.strip()}\n")


def import_attribute(target: str, attribute: str, what: str):
    """`target.attribute`, the module imported from the working directory as `python -m` would:
    a user's factory (check, twin) or port table (twin), `what` naming it in an error.

    Raises:
        InputError: the module is missing, raises or exits while imported, or lacks the name.
        EnvironmentProblem: it imports an optional package that is not installed (missing_extra).
    """
    sys.path.insert(0, os.getcwd())
    try:
        return getattr(importlib.import_module(target), attribute)
    except SystemExit as exc:  # a script's sys.exit() at import: nothing was checked, so no exit 0
        raise InputError(f"cannot load {what}: importing {target} called sys.exit({exc.code!r}); "
                         f"move the script's code under `if __name__ == '__main__':`") from None
    except Exception as exc:  # the user's module: missing, or raising while it is imported
        raise missing_extra(exc) or InputError(
            f"cannot load {what}: {type(exc).__name__}: {first_line(exc)}") from None


def _load_factory(factory: str):
    target, _, attribute = factory.partition(":")
    if not attribute:
        raise InputError(f"{factory!r} is not MODULE:FACTORY, e.g. mypkg.models:build_net")
    build = import_attribute(target, attribute, factory)
    try:
        return build()
    except SystemExit as exc:  # returning nothing to check is a failure, whatever the code
        raise InputError(f"{factory}() called sys.exit({exc.code!r}) instead of returning a model; "
                         f"nothing was checked") from None
    except Exception as exc:  # the user's code: report it, do not crash with our traceback
        raise missing_extra(exc) or InputError(f"{factory}() failed: {type(exc).__name__}: {first_line(exc)}") from None


DTYPES = ("float16", "float32", "float64", "int32", "int64", "bool")  # what an input may be


def random_inputs(specs, seed: int) -> dict[str, np.ndarray]:
    """Random inputs, seeded, from (name, shape, dtype, low, high) specs: floats uniform in
    [low, high) (default [0, 1)), integers in [low, high) (required: an id's range), bools fair.

    Raises:
        InputError: an unknown dtype, or an integer input without its range.
    """
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, shape, dtype, low, high in specs:
        if dtype not in DTYPES:
            raise InputError(f"input {name!r}: unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
        if dtype == "bool":
            arrays[name] = rng.random(shape) < 0.5
        elif dtype.startswith("int"):
            if low is None or not low < high:
                raise InputError(f"input {name!r} is {dtype}: give the range its values are drawn from, "
                                 f"{name}=SHAPE:{dtype}:LOW:HIGH (LOW < HIGH; HIGH excluded, e.g. 0:VOCAB)")
            arrays[name] = rng.integers(int(low), int(high), size=shape).astype(dtype)
        else:
            arrays[name] = rng.uniform(0.0 if low is None else low, 1.0 if high is None else high, size=shape).astype(dtype)
    return arrays


def load_inputs(path: str) -> dict[str, np.ndarray]:
    """Real samples from an .npz file, one array per input name (numpy's arr_0, arr_1... for
    arrays saved without names, which stand for positions).

    Raises:
        InputError: the file cannot be read as an .npz of plain arrays, or holds none.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError) as exc:  # missing, not a zip, an object array (pickle refused)
        raise InputError(f"--inputs {path}: cannot read it as an .npz of arrays: {first_line(exc)}") from None
    if not arrays:
        raise InputError(f"--inputs {path} holds no array; save one per input name: np.savez(path, x=...)")
    return arrays


def by_position(names) -> bool:
    """Whether inputs named so stand for positions: input_0, input_1... (xdl's names for
    positional inputs) or numpy's arr_0, arr_1..., in order; any other names are keywords."""
    names = list(names)
    return any(names == [f"{prefix}{i}" for i in range(len(names))] for prefix in ("input_", "arr_"))


def framework_of(model) -> str:
    """"torch" or "keras", judged by the model's class (without importing either)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(model, keras.Model):
        return "keras"
    raise InputError(f"xdl.check takes a torch.nn.Module or a keras.Model, not {type(model).__name__}")


def as_arrays(example_inputs) -> tuple[dict[str, np.ndarray], bool]:
    """The inputs by their ONNX names, and whether they are keywords (a dict) or positions."""
    keywords = isinstance(example_inputs, dict)
    if keywords:
        named = dict(example_inputs)
        if not named or not all(isinstance(k, str) and k for k in named):
            raise InputError("example inputs given as a dict need one or more names (strings): the keywords")
    else:
        items = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
        named = {f"input_{i}": x for i, x in enumerate(items)}
    for name, x in named.items():
        if not isinstance(x, np.ndarray):
            raise InputError(f"example input {name} is a {type(x).__name__}; pass numpy arrays")
        if x.ndim < 1 or len(x) < 1:
            raise InputError(f"example input {name} has shape {x.shape}; the first dimension is the batch")
        if x.dtype.name not in DTYPES:
            raise InputError(f"example input {name} is {x.dtype}; use one of {', '.join(DTYPES)}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise InputError(f"example input {name} holds NaN or Inf; parity needs finite inputs")
    if len({len(x) for x in named.values()}) > 1:
        raise InputError(f"example inputs disagree on the batch size: {[len(x) for x in named.values()]}")
    return named, keywords


def _dynamic_axes(dynamic, feeds: dict[str, np.ndarray]) -> dict[str, int]:
    """{input name: its extra dynamic axis}, each checked: a known input, an axis past the batch
    with a size of 2 or more (it is checked at that size and one less)."""
    axes = dict(dynamic or {})
    for name, axis in axes.items():
        if name not in feeds:
            raise InputError(f"--dynamic {name}:{axis}: no input is named {name!r}; the inputs are {', '.join(feeds)}")
        x = feeds[name]
        if not isinstance(axis, int) or not 1 <= axis < x.ndim:
            raise InputError(f"--dynamic {name}:{axis}: {name} has shape {list(x.shape)}; give an axis from 1 to "
                             f"{x.ndim - 1} (axis 0, the batch, is always dynamic)")
        if x.shape[axis] < 2:
            raise InputError(f"--dynamic {name}:{axis}: that axis has size {x.shape[axis]}; give inputs where it "
                             f"is 2 or more, so that it can be checked at two sizes")
    return axes


def _native_outputs(fw, model, inputs, name: str) -> dict[str, np.ndarray]:
    """The model's own outputs for `inputs` (a list: positions; a dict: keywords), named
    (xdl.backends.named_outputs): arrays of numbers or bools with a batch dimension, finite.

    Raises:
        InputError: the model fails on the inputs, or returns what no comparison can judge.
    """
    shapes = ", ".join(str(list(x.shape)) for x in (inputs.values() if isinstance(inputs, dict) else inputs))
    try:
        expected = fw.run(model, inputs)
    except InputError as exc:  # outputs of a structure no graph can return: said by named_outputs
        raise InputError(f"{name}: {exc}") from None
    except (Exception, SystemExit) as exc:  # the user's forward: a wrong --input-shape, or a bug in the model
        ids = [k for k, x in (inputs.items() if isinstance(inputs, dict) else enumerate(inputs)) if x.dtype.kind in "iu"]
        hint = (f"; an id past a table's size? draw them below it: --input {_named(ids[0])}=SHAPE:int64:0:SIZE"
                if isinstance(exc, IndexError) and ids else "")
        raise InputError(f"{name} fails on inputs of shape {shapes}: {type(exc).__name__}: {first_line(exc)}; "
                         f"check the model and the input shapes{hint}") from None
    for output, y in expected.items():
        if y.ndim < 1 or y.dtype.kind not in "fiub":
            raise InputError(f"{name}'s output {output!r} is {y.dtype} of shape {list(y.shape)}; xdl compares "
                             f"arrays of numbers or bools with a batch dimension")
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise InputError(f"{name} outputs NaN or Inf on finite inputs (output {output!r}); parity cannot be "
                             f"judged on them: fix the model")
    return expected


def _named(key) -> str:
    """An input's name as the CLI says it: a keyword, or input_N for position N."""
    return key if isinstance(key, str) else f"input_{key}"


def check(model, example_inputs, *, providers=("cpu",), required=(), kind: str = "logits",
          tolerance_override: Tolerance | None = None, raise_on_failure: bool = True, opset: int = graph.OPSET,
          dynamic: dict[str, int] | None = None, route: str | None = None, debug: bool = False,
          save=None, factory: str | None = None, channels_first: tuple[str, ...] = ()) -> verify.Report:
    """Exports `model`, runs it on ONNX Runtime and compares with the native outputs.

    Args:
        model: a torch.nn.Module or a keras.Model (called in inference mode; then each torch
            module is put back in its mode), named by its `name` (Keras) or class (torch).
        example_inputs: a numpy array, or a tuple of them (positional arguments), or a dict of
            them (keyword arguments, the keys the ONNX input names), batch first: float16/32/64,
            int32/64 or bool.
        providers: ORT providers to check ("cpu", "cuda", "cuda-tf32"); one without a usable
            runtime is reported as skipped, unless it is also in `required`.
        kind: what the float outputs are ("probabilities", "logits", "regression", "reconstruction"),
            which picks the tolerance (xdl/spec/tolerance.py); "logits" suits unbounded outputs.
            Integer and bool outputs are compared exactly.
        tolerance_override: replaces the policy's float32 numbers (its reason is said on every line).
        raise_on_failure: raise the error the report's exit code stands for unless all passed.
        opset: the ONNX opset to export at (OPSETS: 17 to 21 for torch, 17 or 18 for Keras).
        dynamic: {input name: axis} dynamic besides the batch (a length), checked at 2 sizes.
        route: the exporter's route (docs/usage.md, "Routes"); default: the back end's
            CHECK_ROUTES in turn while a graph does not fit. Each check names the route used.
        debug: write what the exporter printed and logged (kept out of the report) to stderr.
        save, factory: a folder to keep the checked model in, whatever the verdict, as an artifact
            for `xdl verify`, and the MODULE:FACTORY it came from, recorded there (xdl.parity.saving).
        channels_first: the 4-d inputs (names) of a Keras model to export channels first (xdl twin).

    Returns:
        The Report: per provider, batch size and output, errors against the tolerance.

    Raises:
        InputError: not a supported model, or bad example inputs.
        ParityError / NothingCompared / EnvironmentProblem: with raise_on_failure, as said.
    """
    framework = framework_of(model)
    _check_options(framework, opset, tolerance_override, save)  # before anything runs
    fw = backends.load(framework)
    routes = _routes(fw, framework, route)
    feeds, keywords = as_arrays(example_inputs)
    axes = _dynamic_axes(dynamic, feeds)
    name, moved = model_name(model, framework), _channels_first(channels_first, feeds, framework)
    with _modes_kept(model, framework):
        runs = _runs(feeds, axes, lambda inputs: _native_outputs(
            fw, model, inputs if keywords else list(inputs.values()), name))
        contract = _contract(runs, moved, kind)
        proto, used = _export(fw, model, contract, list(feeds) if keywords else None, framework, name,
                              routes, _trace_example(feeds), debug, opset)
    runs = [({t.name: np.ascontiguousarray(t.to_contract(x[t.name])) for t in contract.inputs}, y) for x, y in runs]
    feeds = runs[0][0]  # the inputs as the graph takes them: a moved image channels first
    if save is not None:  # kept whatever the verdict, which verify gives again
        saving.save(save, proto, contract, feeds, runs[0][1], framework, name, tolerance_override, factory)
    result = verify.Report()
    collapsed = _collapsed_inputs(proto, feeds)
    if collapsed:  # every output would be the one for id 0 (or any single value): said as such, not compared
        result.checks.append(_empty(name, framework, collapsed))
        return _finish(_name_the_route(result, used), name, raise_on_failure)
    result.checks += _compare(proto, contract, runs, providers, required, kind, tolerance_override, name, framework)
    if len(next(iter(feeds.values()))) == 1 and not any(c.exit_code for c in result.checks):
        result.checks.append(_empty(name, framework, ONE_ROW))
    return _finish(_name_the_route(result, used), name, raise_on_failure)


ONE_ROW = ("nothing meaningful was compared: one row cannot show that the outputs follow the inputs (a model that "
           "ignores them would pass); give two or more different rows")


def _empty(name: str, framework: str, why: str) -> verify.Check:
    """A check that says nothing meaningful was compared, and why (exit 3)."""
    return verify.Check(name, framework, "-", "empty", exit_code=EXIT_ENVIRONMENT, detail=why)


def _compare(proto, contract, runs, providers, required, kind, override, name: str, framework: str) -> list:
    """The checks of every run on each provider (batch 1 first), by the criteria for the contract."""
    checks = []
    for provider in verify.providers_to_check(providers, required):
        sess, why_not = verify.open_session(proto.SerializeToString(), provider, required, model=name, framework=framework)
        if why_not:
            checks.append(why_not)
            continue
        criteria = verify.policy.for_contract(contract, provider, kind, override)
        for inputs, outputs in sorted(runs, key=lambda run: len(next(iter(run[0].values())))):  # batch 1 first
            checks += verify.run_checks(sess, inputs, outputs, model=name, framework=framework,
                                        provider=provider, criteria=criteria)
    return checks


def _check_options(framework: str, opset, override: Tolerance | None, save) -> None:
    """Refuses an opset `framework`'s exporter does not reach, an override without its reason, and
    a --save folder that cannot be written (InputError, one line), before the model is run."""
    check_opset(opset, framework)
    if override is not None and not str(override.reason).strip():
        raise InputError("a tolerance override needs its reason: Tolerance(atol, rtol, reason='why these numbers')")
    if save is not None:
        saving.check_folder(save)


# The opsets each framework's export reaches (docs/routes.md: tf2onnx 1.17 and Keras's own export
# stop at 18; the torch routes reach 21); 17 to 21 are the ones measured there.
OPSETS = {"torch": range(17, 22), "keras": range(17, 19)}


def check_opset(opset, framework: str | None = None) -> None:
    """Refuses an opset the exporters of `framework` (of either, when None) do not reach.

    Raises:
        InputError: not an integer in that range (one line, naming it).
    """
    supported = OPSETS[framework] if framework else range(min(r.start for r in OPSETS.values()),
                                                            max(r.stop for r in OPSETS.values()))
    if type(opset) is not int or opset not in supported:
        who = f"the {framework} exporter supports" if framework else "xdl exports at"
        raise InputError(f"opset {opset!r} refused: {who} opsets {supported.start} to {supported.stop - 1} "
                         f"(default {graph.OPSET})")


def _runs(feeds: dict, axes: dict[str, int], native) -> list[tuple[dict, dict]]:
    """(inputs, outputs from `native`) to compare on: the example, its first row (proves the
    batch dynamic) and, with dynamic axes, the example with each one shorter, together (the
    exporters give them one name)."""
    expected = native(feeds)
    runs = [(feeds, expected)]
    if len(next(iter(feeds.values()))) > 1:
        runs.append(({k: x[:1] for k, x in feeds.items()}, {k: y[:1] for k, y in expected.items()}))
    if axes:
        shorter = {k: np.take(x, range(x.shape[axes[k]] - 1), axis=axes[k]) if k in axes else x
                   for k, x in feeds.items()}
        runs.append((shorter, native(shorter)))
    return runs


def _contract(runs, moved: set[str], kind: str) -> Contract:
    """The contract the runs show: dynamic, the batch and every axis whose size differs between
    them; the `moved` images channels first."""
    inputs, outputs = runs[0]
    return Contract(
        inputs=tuple(TensorSpec(n, _in_layout(_dynamic([r[0][n].shape for r in runs]), n in moved), x.dtype.name,
                                layout="NCHW" if n in moved else "") for n, x in inputs.items()),
        outputs=tuple(TensorSpec(n, _dynamic([r[1][n].shape for r in runs]), y.dtype.name, kind=kind)
                      for n, y in outputs.items()),
    )


def _channels_first(names, feeds: dict[str, np.ndarray], framework: str) -> set[str]:
    """The inputs to export channels first, each checked: a Keras model's 4-d float input."""
    for n in names:
        if framework != "keras" or n not in feeds or feeds[n].ndim != 4 or feeds[n].dtype.kind != "f":
            raise InputError(f"channels_first={n!r}: only a Keras model's image inputs (4-d, float, by name) can be "
                             f"exported channels first")
    return set(names)


def _in_layout(shape: tuple, channels_first: bool) -> tuple:
    """A channels-last image shape as an NCHW contract states it; any other shape as it is."""
    return (shape[0], shape[3], shape[1], shape[2]) if channels_first else shape


def _dynamic(shapes: list[tuple[int, ...]]) -> tuple[int | None, ...]:
    """A contract shape from the shapes one tensor took in the runs: None (dynamic) for the batch
    and for each axis whose size changed."""
    return tuple(None if i == 0 or len({s[i] for s in shapes}) > 1 else d for i, d in enumerate(shapes[0]))


def model_name(model, framework: str) -> str:
    """What the report calls the model: a Keras model's `name` (its own, or Keras's "functional",
    "sequential"), a torch module's class."""
    name = getattr(model, "name", None) if framework == "keras" else None
    return name if isinstance(name, str) and name else type(model).__name__


def _routes(fw, framework: str, route: str | None) -> tuple[str, ...]:
    """The routes to try, in order: the one asked for, or the back end's CHECK_ROUTES."""
    if route is None:
        return fw.CHECK_ROUTES
    if route not in fw.CHECK_ROUTES:
        raise InputError(f"route {route!r}: a {framework} model exports by one of {', '.join(fw.CHECK_ROUTES)}")
    return (route,)


def _trace_example(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The user's inputs, which the exporter traces the model on; a batch of one row twice, as
    torch.export makes a dim of size 1 a constant (the batch must stay dynamic)."""
    return [x if len(x) > 1 else np.concatenate([x, x]) for x in feeds.values()]


def _export(fw, model, contract: Contract, keywords: list[str] | None, framework: str, name: str,
            routes: tuple[str, ...], example: list[np.ndarray], debug: bool, opset: int = graph.OPSET):
    """The model exported on `contract` (flattened outputs, keyword inputs), brought onto it,
    by the first of `routes` whose graph takes the model's inputs and gives its outputs; and
    that route, with why the routes before it did not do (a note for the report).

    Raises:
        InputError: the exporter fails (in one line: its cause and what to try), or no route's
            graph fits the contract.
    """
    net, misfits = fw.flat(model, keywords), []
    for route in routes:
        proto, said = _exported(fw, net, contract, framework, name, route, example, debug, opset)
        try:
            proto = graph.apply(proto, contract, {"xdl.model": name, "xdl.framework": framework, "xdl.route": route},
                                name=name, summary=f"user {framework} model {name}")
        except InputError as exc:  # e.g. constants made graph inputs: another route may keep them constants
            misfits.append((route, str(exc).removeprefix(f"{name}: ")))
            continue
        return proto, (route, _by_reason(misfits), _caveat(said))
    others = [r for r in fw.CHECK_ROUTES if r not in routes]
    raise InputError(f"{name}: the exported graph is unusable: {_by_reason(misfits)}"
                     + (f"; try --route {' or --route '.join(others)}" if others else ""))


def _by_reason(misfits: list[tuple[str, str]]) -> str:
    """`route a, route b: why; route c: why` (routes failing alike said once)."""
    reasons = {}
    for route, why in misfits:
        reasons.setdefault(why, []).append(route)
    return "; ".join(f"route {', '.join(routes)}: {why}" for why, routes in reasons.items())


def _exported(fw, net, contract: Contract, framework: str, name: str, route: str, example, debug: bool, opset: int):
    """The exporter's raw graph by `route`, and what it printed and logged meanwhile (captured;
    written to stderr with `debug`)."""
    error = None
    with capture.captured() as log:
        try:
            proto = fw.export(net, contract, opset, route, example)
        except (Exception, SystemExit) as exc:  # the user's model or the exporter: said below in one line
            error = exc
    if error is not None:  # with debug, the exporter's own error in full, after what it wrote
        log.text += "\n" + "".join(traceback.format_exception(error))
    _show(log, debug, f"the {framework} exporter ({route}) exported {name}")
    if isinstance(error, InputError):  # named_outputs, while the exporter traced the model
        raise InputError(f"{name}: {error}") from None
    if error is not None:
        why = capture.cause(error)
        raise InputError(f"the {framework} exporter cannot export {name} (route {route}): {why}; "
                         f"{_advice(why, fw, route)}") from None
    return proto, log.text


def _caveat(said: str) -> str:
    """What an exporter said that the comparison on the user's inputs cannot show: the TorchScript
    tracer's warning that a Python value (a branch on a tensor's values) became a constant."""
    if "TracerWarning" in said:
        return "the tracer warned that the graph may not follow other inputs (--debug shows where)"
    return ""


def _advice(why: str, fw, route: str) -> str:
    """What to try after an exporter's failure `why`."""
    if "data-dependent" in why:  # torch.export met a Python branch on a tensor's values
        return ("a Python `if` on a tensor's values cannot be exported: compute both branches and pick with "
                "torch.where (or use torch.cond)")
    others = [r for r in fw.CHECK_ROUTES if r != route]
    return (f"try another route: --route {' or --route '.join(others)} (xdl.check's route=); "
            f"--debug (debug=True) shows what the exporter said")


def _name_the_route(result: verify.Report, used) -> verify.Report:
    """`result`, each compared check's detail naming the route that exported the graph, and why
    the routes tried before it did not do."""
    route, misfits, caveat = used
    note = f"route {route}" + (f" (after {misfits})" if misfits else "") + (f"; {caveat}" if caveat else "")
    for check in result.checks:
        if check.status in ("pass", "fail", "empty"):
            check.detail = f"{check.detail}; {note}" if check.detail else note
    return result


@contextlib.contextmanager
def _modes_kept(model, framework: str):
    """Puts each module of a torch model back in its own mode after the block (a frozen
    BatchNorm inside a model in training stays in eval mode); a Keras model has no mode."""
    modes = {m: m.training for m in model.modules()} if framework == "torch" else {}
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training


def _finish(result: verify.Report, name: str, raise_on_failure: bool) -> verify.Report:
    """The report, or with `raise_on_failure` the error its exit code stands for (a reference
    without signal raises NothingCompared, exit 3), holding the report."""
    if raise_on_failure and result.exit_code:
        failed = [c for c in result.checks if c.exit_code]
        first = next((c for c in failed if c.exit_code == result.exit_code), None)
        if first is None:  # no check failed: none ran, every provider was skipped
            skipped = "; ".join(f"{c.provider}: {c.detail}" for c in result.checks if c.status == "skipped")
            error = NothingCompared(f"{name}: nothing was checked: every provider was skipped ({skipped})")
            error.exit_code, error.report = result.exit_code, result
            raise error
        kind = NothingCompared if first.status == "empty" else ParityError
        error = kind(f"{name}: {len(failed)} check(s) failed; first: {report.check_line(first).strip()}")
        error.exit_code = result.exit_code
        error.report = result
        raise error
    return result


_INTEGER_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
                  onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64,
                  onnx.TensorProto.BOOL}


def _collapsed_inputs(proto, feeds: dict[str, np.ndarray]) -> str:
    """Why the float inputs given carry no signal, or "": a float input the graph only casts to
    integers (an id input: Keras casts what an Embedding's Input receives), whose values all
    become one integer (floats in [0, 1) all become id 0). An input also used as floats is not
    one: its values reach the outputs that way."""
    for name, x in feeds.items():
        uses = [node for node in proto.graph.node if name in node.input]
        only_ids = uses and all(node.op_type == "Cast" and any(a.name == "to" and a.i in _INTEGER_TYPES
                                                                for a in node.attribute) for node in uses)
        if x.dtype.kind == "f" and only_ids and np.unique(x.astype(np.int64)).size < 2:  # used as floats too: it counts
            value = int(x.flat[0]) if x.size else 0
            return (f"nothing meaningful was compared: the model casts input {name} to integers, and every value "
                    f"given becomes {value}; give it integers (`--input {name}=SHAPE:int64:LOW:HIGH`, or int64 "
                    f"arrays)")
    return ""
