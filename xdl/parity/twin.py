"""Your two implementations of one network, compared: a Keras model and its PyTorch rewrite.

    import xdl
    report = xdl.twin(keras_model, torch_model, images_nhwc)   # ports Keras -> PyTorch, compares
    print(report.render()); report.exit_code                   # 0: one network

Steps, each in the report:

  1. the inputs, given once in the Keras model's layout, are moved for PyTorch where its first
     convolution reads channels first (and the report says how that was known);
  2. both models run once, traced layer by layer (xdl/backends/*_trace.py), and their layers with
     weights are paired by name, call order, kind and shape (xdl/port/pairing.py), or by a port table;
  3. the source model's weights are ported into the other through the port engine's transforms
     (the target model's own weights are replaced: that is the comparison);
  4. the outputs are judged under the tolerance policy, then every paired layer's activations
     with layouts reconciled; the first pair that parts is named, with every setting in which the
     two layers differ (xdl/port/explain.py) or, where none shows, the `xdl differences` rows
     that apply to that kind of layer.

Exit code: 0 one network (outputs and every paired layer within tolerance), 1 the models differ
(a layer without a partner counts), 2 bad input or an ambiguous pairing, 3 outputs without signal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from xdl import backends, verify
from xdl.errors import EXIT_OK, EXIT_PARITY, InputError, NothingCompared, first_line
from xdl.parity import users
from xdl.port import engine, explain, pairing


@dataclass
class LayerResult:
    """One paired layer's activations compared (Keras's moved into PyTorch's layout)."""

    keras: str
    torch: str
    kind: str
    how: str  # paired by "name", "call order", "kind and shape" or "port table"
    at: str  # where the activations were taken: "after its activation", "before its activation"
    shape: list
    max_abs: float | None
    ok: bool
    detail: str = ""


@dataclass
class TwinReport:
    keras_model: str
    torch_model: str
    source: str  # whose weights were ported into the other
    inputs: list[str] = field(default_factory=list)  # each input's layout, and how it was known
    unpaired: str = ""  # why the layers could not be paired ("" when they were)
    settings: list[str] = field(default_factory=list)  # settings that differ, shown by the inputs or not
    layers: list[LayerResult] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)  # {"name", "shape", "max_abs", "ok", "detail"}
    explanation: list[str] = field(default_factory=list)  # why the first pair that parts does
    warnings: list[str] = field(default_factory=list)  # differences that show only in training
    exports: list[verify.Check] = field(default_factory=list)  # each ONNX file against each framework
    steps: list[dict] = field(default_factory=list)  # {"step", "keras", "torch", "rel", "ok"} per training step

    @property
    def first(self) -> LayerResult | None:
        return next((r for r in self.layers if not r.ok), None)

    @property
    def same(self) -> bool:
        return (not self.unpaired and all(o["ok"] for o in self.outputs) and self.first is None
                and not self.settings and all(s["ok"] for s in self.steps))

    @property
    def exit_code(self) -> int:
        if not self.same:
            return EXIT_PARITY
        return verify.Report(self.exports).exit_code if self.exports else EXIT_OK

    @property
    def _settings_verdict(self) -> bool:
        """Whether the verdict is the first setting that differs: nothing before it parted."""
        return bool(not self.unpaired and self.first is None and all(o["ok"] for o in self.outputs) and self.settings)

    def verdict(self) -> str:
        names = f"Keras {self.keras_model!r} and PyTorch {self.torch_model!r}"
        if self.unpaired:
            return f"DIFFER: {names} are not one network: {self.unpaired}"
        if self.first is not None:
            f = self.first
            return (f"DIFFER: {names} part at Keras layer {f.keras!r} / PyTorch module {f.torch!r} ({f.kind}, "
                    f"{f.at}): {f.detail}")
        if not all(o["ok"] for o in self.outputs):
            bad = next(o for o in self.outputs if not o["ok"])
            return (f"DIFFER: every paired layer agrees, output {bad['name']!r} does not: {bad['detail']} (what "
                    f"follows the last layer with weights differs)")
        if self._settings_verdict:
            return (f"DIFFER: {names} agree on these inputs, but their layers are set differently (other inputs, "
                    f"or training, would show it): {self.settings[0]}")
        if not all(s["ok"] for s in self.steps):
            bad = next(s for s in self.steps if not s["ok"])
            return (f"DIFFER: {names} agree in inference but part in training at step {bad['step']}: loss "
                    f"{bad['keras']:.6g} (Keras) vs {bad['torch']:.6g} (PyTorch), relative {bad['rel']:.1e} > "
                    f"{STEP_TARGET:g}")
        return (f"SAME: {names} are one network: {len(self.layers)} paired layers and {len(self.outputs)} "
                f"output(s) agree within tolerance, with {self.source}'s weights in both")

    def render(self) -> str:
        from xdl.report import table

        lines = [f"xdl twin: Keras {self.keras_model!r} vs PyTorch {self.torch_model!r}, {self.source}'s weights "
                 f"ported into the other", *(f"  input {line}" for line in self.inputs)]
        if self.layers:
            rows = [[r.keras, r.torch, r.kind, r.how, str(r.shape), "-" if r.max_abs is None else f"{r.max_abs:.1e}",
                     "ok" if r.ok else "DIFFERS"] for r in self.layers]
            lines += ["", table(["keras layer", "torch module", "kind", "paired by", "shape (torch layout)",
                                 "max abs", ""], rows)]
        for o in self.outputs:
            error = "-" if o["max_abs"] is None else f"{o['max_abs']:.1e}"
            lines.append(f"output {o['name']} {o['shape']}: {'ok' if o['ok'] else 'DIFFERS'}, max abs {error}"
                         f"{', ' + o['detail'] if o['detail'] else ''}")
        if self.steps:
            lines += ["", table(["step", "keras loss", "torch loss", "relative", ""],
                                [[str(s["step"]), f"{s['keras']:.6g}", f"{s['torch']:.6g}", f"{s['rel']:.1e}",
                                  "ok" if s["ok"] else "DIFFERS"] for s in self.steps])]
        if self.exports:
            lines.append("")
        for c in self.exports:
            error = "" if c.max_abs is None else f", max abs {c.max_abs:.1e}"
            where = f" (batch {c.batch_size}, {c.output})" if c.batch_size is not None else ""
            on = f" on {c.provider}" if c.provider != "-" else ""
            lines.append(f"{c.framework}{on}{where}: {c.status.upper()}{error}"
                         f"{', ' + c.detail if c.detail else ''}")
        lines += ["", self.verdict()]
        if self.same and self.exports and self.exit_code:
            lines.append("  but the ONNX files do not reproduce both frameworks (the lines above)")
        lines += [f"  why: {note}" for note in self.explanation]
        lines += [f"  set differently: {note}" for note in self.settings[self._settings_verdict:]
                  if note not in self.explanation and f"before it, {note}" not in self.explanation]
        lines += [f"  note: {warning}" for warning in self.warnings]
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "verdict": self.verdict(), "exit_code": self.exit_code}, indent=2,
                          default=str)


def _fits(declared: tuple, shape: tuple) -> bool:
    return len(declared) == len(shape) and all(d is None or d == s for d, s in zip(declared[1:], shape[1:]))


LAYOUTS = ("auto", "channels-first", "same")  # how PyTorch takes the images and sequences: torch_layout=


def _layouts(keras_model, torch_model, feeds: dict[str, np.ndarray], torch_layout: str = "auto"):
    """Each input for Keras and for PyTorch, and a line per image or sequence input saying how
    its layout was known: the Keras model's declared shapes, PyTorch's first convolution (or
    `torch_layout`, where the user says)."""
    from xdl.backends import keras_trace, torch_trace

    if torch_layout not in LAYOUTS:
        raise InputError(f"torch_layout {torch_layout!r}: give one of {', '.join(LAYOUTS)}")
    declared = keras_trace.declared_shapes(keras_model) or []
    conv = torch_trace.first_convolution(torch_model)
    for_keras, for_torch, lines = {}, {}, []
    for i, (name, x) in enumerate(feeds.items()):
        for_keras[name] = for_torch[name] = x
        if x.dtype.kind != "f" or x.ndim not in (3, 4):
            continue
        said = ""
        if i < len(declared) and not _fits(declared[i], x.shape) and _fits(declared[i], np.moveaxis(x, 1, -1).shape):
            for_keras[name] = np.ascontiguousarray(np.moveaxis(x, 1, -1))
            said = f"given channels first, moved to Keras's declared {_shape(declared[i])}; "
        elif i < len(declared):
            said = f"Keras declares {_shape(declared[i])}; "
        x = for_keras[name]
        if torch_layout != "auto":
            moved = torch_layout == "channels-first"
            how = f"--torch-layout {torch_layout}"
        else:
            moved = conv is not None and x.shape[-1] == conv[2]
            how = (f"its first convolution {conv[0]!r}, {conv[1]}, reads {conv[2]} channels first" if moved else
                   f"no PyTorch convolution reads {x.shape[-1]} channels first")
        for_torch[name] = np.ascontiguousarray(np.moveaxis(x, -1, 1)) if moved else x
        lines.append(f"{name}: {said}{list(x.shape)} to Keras, {list(for_torch[name].shape)} to PyTorch ({how})")
    return for_keras, for_torch, lines


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _call(feeds: dict[str, np.ndarray], keywords: bool):
    return dict(feeds) if keywords else list(feeds.values())


def _trace(framework: str, model, inputs, name: str):
    from xdl.backends import keras_trace, torch_trace
    from xdl.exporting import capture

    tracer = keras_trace if framework == "keras" else torch_trace
    try:
        with capture.captured():  # Keras warns about input structures, TensorFlow logs: not the report's
            return tracer.trace(model, inputs)
    except InputError:
        raise
    except Exception as exc:  # the user's model: one line, not our traceback
        shapes = [list(x.shape) for x in (inputs.values() if isinstance(inputs, dict) else inputs)]
        raise InputError(f"{name} fails on inputs of shape {shapes}: {type(exc).__name__}: "
                         f"{first_line(exc)}; check the model and the inputs' layout") from None


def _torch_side(t: np.ndarray, k: np.ndarray, layer: pairing.Layer) -> np.ndarray:
    """PyTorch's recurrent layers return every step; a Keras one with return_sequences=False the
    last (for a bidirectional one: the forward's last step and the backward's, which is step 0)."""
    if layer.kind not in ("lstm", "gru", "bilstm", "bigru") or t.ndim != 3 or k.ndim != 2:
        return t
    steps = t if layer.config.get("batch_first", True) else t.transpose(1, 0, 2)
    if layer.kind.startswith("bi"):
        half = steps.shape[-1] // 2
        return np.concatenate([steps[:, -1, :half], steps[:, 0, half:]], axis=-1)
    return steps[:, -1]


def _keras_side(k: np.ndarray, shape: tuple, channels_first: bool) -> np.ndarray:
    """Keras's activation in PyTorch's layout: channels moved to axis 1 where that is PyTorch's
    shape (always for a PyTorch layer that computes channels first, even when both read alike),
    a sequence moved to time first where PyTorch runs batch_first=False."""
    if k.ndim in (3, 4):
        moved = np.moveaxis(k, -1, 1)
        if moved.shape == shape and (k.shape != shape or channels_first):
            return moved
        if k.ndim == 3 and k.shape != shape and k.transpose(1, 0, 2).shape == shape:
            return k.transpose(1, 0, 2)
    return k


def _cropped(t: np.ndarray, k: np.ndarray, channels_first: bool, at: str) -> tuple[np.ndarray, str]:
    """PyTorch's activation cut to Keras's size where it is larger along the image or sequence
    axes only: a transposed convolution without Keras's 'same' gives a pixel more, which
    forward() crops (t[:, :, :14, :14]) where no hook sees it; the first pixels are compared."""
    if not channels_first or t.ndim != k.ndim or t.ndim not in (3, 4):
        return t, at
    want = np.moveaxis(k, -1, 1).shape
    if t.shape == want or t.shape[:2] != want[:2] or any(a < b for a, b in zip(t.shape[2:], want[2:])):
        return t, at
    size = "x".join(map(str, want[2:]))
    return t[(..., *(slice(0, n) for n in want[2:]))], f"{at}, at PyTorch's first {size} only (forward() crops it?)"


def _compare_layer(p: pairing.Pair, k_layers, t_layers, k_ends, t_ends, criteria) -> LayerResult:
    k_end, t_end = k_ends[p.keras.name], t_ends[p.torch.name]
    keras_acts = explain.unit_activations(k_layers, p.keras, True)
    torch_acts = explain.unit_activations(t_layers, p.torch, False)
    if keras_acts and not torch_acts:
        # PyTorch applies it in forward() (F.relu), where no hook sees it: compare before it (a
        # fused activation's input, or the layer's own output before Keras's activation layers)
        keras = p.keras.pre if p.keras.pre is not None else p.keras.output
        torch, at = p.torch.output, "before its activation"
    else:
        keras, torch, at = k_end.output, t_end.output, "after its activation" if keras_acts or torch_acts else "output"
    if keras is None or torch is None:
        return LayerResult(p.keras.name, p.torch.name, p.keras.kind, p.how, at, [], None, False,
                           "an output that is no tensor cannot be compared")
    torch = _torch_side(torch, keras, p.torch)
    # only a transposed convolution's extra pixel is cropped so; any other size is a difference
    torch, at = _cropped(torch, keras, p.torch.kind == "conv2d_transpose", at)
    keras = _keras_side(keras, torch.shape, p.torch.kind in pairing.CHANNELS_FIRST)
    c = verify.judge(torch, keras, _at_magnitude(criteria, keras))
    ok = c.ok or bool(c.empty)  # a layer of constant activations (a dead ReLU) agrees; the outputs carry the signal
    return LayerResult(p.keras.name, p.torch.name, p.keras.kind, p.how, at, list(torch.shape), c.max_abs, ok,
                       c.detail if not c.empty else "agrees (constant activations)")


def _at_magnitude(criteria, reference: np.ndarray):
    """The criteria for values of the reference's size: two float32 runs of one network differ
    in proportion to their values, so outputs of ~1e-3 are held to what outputs of ~1 are (an
    absolute atol would let a 5 % error through) and activations of ~50 are not held to more."""
    finite = np.abs(reference[np.isfinite(reference)]) if reference.dtype.kind == "f" else np.zeros(1)
    return verify.policy.at_magnitude(criteria, float(finite.max()) if finite.size else 0.0)


def _compare_outputs(keras_out: dict, torch_out: dict, criteria) -> list[dict]:
    if len(keras_out) != len(torch_out):
        raise_line = (f"the Keras model returns {len(keras_out)} output(s) ({', '.join(keras_out)}), the PyTorch "
                      f"model {len(torch_out)} ({', '.join(torch_out)})")
        return [{"name": "-", "shape": [], "max_abs": None, "ok": False, "detail": raise_line, "empty": ""}]
    # by name where both name them alike (dicts in another order), else by position
    torch_values = [torch_out[n] for n in keras_out] if set(keras_out) == set(torch_out) else list(torch_out.values())
    found = []
    for (name, k), t in zip(keras_out.items(), torch_values):
        moved = _keras_side(k, t.shape, False) if k.dtype.kind == "f" else k
        c = verify.judge(t, moved, _at_magnitude(criteria, moved))
        said = f"Keras's {list(k.shape)} moved to PyTorch's layout" if moved.shape != k.shape else ""
        found.append({"name": name, "shape": list(t.shape), "max_abs": c.max_abs, "ok": c.ok,
                      "detail": "; ".join(filter(None, [c.detail, said])), "empty": c.empty})
    if any(o["ok"] for o in found):  # an output without signal beside one that carries it (verify's rule)
        for o in found:
            o["ok"] = o["ok"] or bool(o["empty"])
    return found


def _explain(report: TwinReport, pairs, k_layers, t_layers) -> None:
    from xdl.backends import differences

    for p in pairs:
        report.warnings += explain.training_notes(p)
        report.settings += explain.settings(p, k_layers, t_layers)
    report.warnings += explain.dropout_note(k_layers, t_layers) + explain.regulariser_notes(k_layers)
    first = report.first
    if first is None:
        return
    alike = _alike_by_order(pairs)
    if alike:  # said first: a wrong pairing makes every later line wrong
        report.explanation.append(f"{', '.join(alike)} are alike (one kind, one shape) and were paired by call order: "
                                  f"if the PyTorch model runs them in another order than Keras, the pairing is wrong; "
                                  f"give a port table (--port-table)")
    p = next(p for p in pairs if p.keras.name == first.keras)
    report.explanation += explain.notes(p, k_layers, t_layers)
    # a setting of a layer before it, which its input carries; an activation PyTorch may have left
    # out, which shows only at the next layer
    for q in pairs[:pairs.index(p)]:
        report.explanation += [f"before it, {note}" for note in explain.settings(q, k_layers, t_layers)]
    for q in pairs[:pairs.index(p)][-1:]:
        report.explanation += [f"before it, {note}" for note in explain.unseen_activation(q, k_layers, t_layers)]
    if report.explanation[len(alike) > 0:]:
        return
    before = pairs[pairs.index(p) - 1] if pairs.index(p) else None
    if before is not None and next(r for r in report.layers if r.keras == before.keras.name).ok:
        report.explanation.append(
            f"no setting xdl reads differs, and the layer before agrees: what runs between {before.keras.name!r} and "
            f"{p.keras.name!r} differs (a function in forward(): an addition, a concatenation, F.pad, a pooling), "
            f"or the layer's input does")
    rows = {d.topic: d for d in differences.DIFFERENCES}
    for topic in explain.topics(p, k_layers):  # what is known to differ at such a layer, by default
        keras_says, torch_says = rows[topic].read()
        report.explanation.append(f"worth checking at a {p.keras.kind} layer, {topic}: by default Keras "
                                  f"{keras_says}; PyTorch {torch_says}")


def _alike_by_order(pairs) -> list[str]:
    """The Keras layers paired by call order that share kind and shapes with another such layer:
    two branches of one shape that forward() runs in the other order would swap partners."""
    groups: dict[tuple, list[str]] = {}
    for p in pairs:
        if p.how == "call order":
            groups.setdefault((p.keras.kind, tuple(p.keras.params.values())), []).append(repr(p.keras.name))
    return [name for names in groups.values() if len(names) > 1 for name in names]


STEP_TARGET = 1e-4  # the losses' relative difference allowed at each step (as `xdl parity steps`)


def twin(keras_model, torch_model, inputs, *, source: str = "keras", port_table=(), kind: str = "logits",
         export: bool = False, providers=("cpu",), required=(), train_steps: int = 0, lr: float = 0.01,
         torch_layout: str = "auto") -> TwinReport:
    """Ports `source`'s weights into the other model and compares the two, output and layer by
    layer (the module docstring says how). `inputs`: an array, a tuple of arrays (positions) or
    a dict (keywords), in the Keras model's layout (channels last) or, for an image or sequence
    the Keras model declares, PyTorch's; `torch_layout` ("channels-first", "same") says how the
    PyTorch model takes them where its first convolution cannot tell. The source's BatchNorm
    statistics and biases still at their initial values (an identity BatchNorm and a zero bias
    hide where they sit) are first given seeded random values. With `export`, both models are
    exported to ONNX on one contract (as xdl.check does; the Keras graph takes its images channels
    first) and each file run on ONNX Runtime on every provider against both frameworks' outputs. With `train_steps` K, both then take K plain-SGD
    steps (learning rate `lr`, dropout off) on the inputs towards one seeded random target (mean
    squared error on the first output), the loss compared at every step.

    Raises:
        InputError: not a Keras and a PyTorch model, inputs that do not fit, a pairing that is
            ambiguous (pairing.Ambiguous), a port table that names what the models lack.
        NothingCompared: the outputs carry no signal (all ~0, identical rows): nothing was shown.
    """
    _check_models(keras_model, torch_model, source)
    feeds, keywords = users.as_arrays(inputs)
    k_feeds, t_feeds, lines = _layouts(keras_model, torch_model, feeds, torch_layout)
    names = users.model_name(keras_model, "keras"), users.model_name(torch_model, "torch")
    report = TwinReport(*names, source, lines)
    run = _Run(keras_model, torch_model, [k_feeds, t_feeds], keywords, names)
    k_layers, _, t_layers, _ = run.first(torch_layout, report)
    try:
        pairs = pairing.pair(k_layers, t_layers, port_table)
    except pairing.Unpaired as exc:
        report.unpaired = str(exc)
        return report
    _unused(torch_model, pairs)
    report.warnings += _enliven(source, keras_model, torch_model, pairs)
    try:
        pairs, (k_layers, k_out, t_layers, t_out) = run.ported(source, pairs, port_table)
    except pairing.Unpaired as exc:  # forward() branches on values: other layers ran with the new weights
        report.unpaired = f"with the ported weights the models ran other layers than before: {exc}"
        return report
    criteria = verify.policy.criteria_for("float32", "cpu", kind)
    report.outputs = _compare_outputs(k_out, t_out, criteria)
    if report.outputs and all(o.get("empty") for o in report.outputs):
        raise NothingCompared(f"{names[0]} and {names[1]} agree, but {report.outputs[0]['empty']}")
    k_ends, t_ends = pairing.units(k_layers), pairing.units(t_layers)
    report.layers = [_compare_layer(p, k_layers, t_layers, k_ends, t_ends, criteria) for p in pairs]
    _explain(report, pairs, k_layers, t_layers)
    if export:  # before training: the files are of the weights the outputs above were computed with
        report.exports = _exports(keras_model, torch_model, run.feeds, keywords, (k_out, t_out), kind,
                                  providers, required)
    if train_steps and not report.same:
        report.warnings.append(f"not trained ({train_steps} steps asked): the models differ before training")
    elif train_steps:
        report.steps = _steps(keras_model, torch_model, run.feeds, keywords, (k_out, t_out), train_steps, lr)
    return report


def _flatten_orders(pairs, keras_layers) -> dict:
    """{Keras Dense after a Flatten: the transform its PyTorch partner's input shows}, where the
    transform chosen before the port guessed the other order. Once ported, the partner's input
    holds Keras's flattened numbers either in Keras's order (H, W, C: a PyTorch model that
    permutes to channels last first) or in PyTorch's (C, H, W), whichever way forward() wrote the
    flatten (nn.Flatten, x.view, after a functional pooling): the run decides, not a guess."""
    criteria = verify.policy.criteria_for("float32", "cpu", "features")
    found = {}
    for p in pairs:
        hwc = pairing.flattened_from(keras_layers, p.keras) if p.keras.kind == "dense" else None
        k, t = p.keras.input, p.torch.input
        if hwc is None or k is None or t is None or k.shape != t.shape or len(p.keras.params) < 2:
            continue
        hwc = (1, *hwc) if len(hwc) == 2 else hwc
        chw = k.reshape(len(k), *hwc).transpose(0, 3, 1, 2).reshape(k.shape)
        as_keras, as_torch = (verify.judge(t, order, _at_magnitude(criteria, order)).ok for order in (k, chw))
        reordered = isinstance(p.transform, engine.DenseAfterFlatten)
        if as_keras and not as_torch and reordered:
            found[p.keras.name] = engine.Dense()
        elif as_torch and not as_keras and not reordered:
            found[p.keras.name] = engine.DenseAfterFlatten(*hwc)
    return found


def _check_models(keras_model, torch_model, source: str) -> None:
    for model, framework, which in ((keras_model, "keras", "keras.Model"), (torch_model, "torch", "torch.nn.Module")):
        if _framework(model) != framework:
            raise InputError(f"xdl twin takes a keras.Model, then a torch.nn.Module; the {framework} model given is "
                             f"a {type(model).__name__}, not a {which}")
    if source not in ("keras", "torch"):
        raise InputError(f"port from keras or torch, not {source!r}")


@dataclass
class _Run:
    """The two models, the inputs each takes (Keras's, PyTorch's), and how: what every run of
    them needs."""

    keras: object
    torch: object
    feeds: list  # [Keras's inputs, PyTorch's], by name
    keywords: bool
    names: tuple[str, str]

    def trace(self):
        """(Keras's layers, its outputs, PyTorch's layers, its outputs) of one run of both."""
        k_layers, k_out = _trace("keras", self.keras, _call(self.feeds[0], self.keywords), self.names[0])
        t_layers, t_out = _trace("torch", self.torch, _call(self.feeds[1], self.keywords), self.names[1])
        return k_layers, k_out, t_layers, t_out

    def first(self, torch_layout: str, report: TwinReport):
        """The first run. The first convolution registered need not read the input (an LSTM
        before a Conv1d): where PyTorch fails on the input moved channels first and runs on
        Keras's layout, that is its layout, and the report's input lines say so."""
        try:
            return self.trace()
        except InputError as refused:
            k_feeds, t_feeds = self.feeds
            if torch_layout != "auto" or all(t_feeds[n] is k_feeds[n] for n in k_feeds):
                raise
            self.feeds[1] = k_feeds
            try:
                found = self.trace()
            except InputError:
                raise refused from None
            report.inputs = [line.split(" to Keras, ")[0] + f" to both (PyTorch fails on them channels first: "
                             f"{str(refused).split(': ', 1)[-1][:120]})" for line in report.inputs]
            return found

    def ported(self, source: str, pairs, port_table):
        """Ports `source`'s weights by `pairs` and runs both again: the pairs over the new run's
        records, and the run. A Dense after a Flatten whose partner's input shows the other
        order than guessed (_flatten_orders) is ported again, as the run showed.

        Raises:
            pairing.Unpaired: forward() branches on values, and other layers ran this time.
        """
        _port(source, self.keras, self.torch, [p.rule for p in pairs])
        found = self.trace()
        pairs = pairing.pair(found[0], found[2], port_table)
        fixed = _flatten_orders(pairs, found[0])
        if fixed:
            _port(source, self.keras, self.torch, [p.rule for p in pairing.pair(found[0], found[2], port_table, fixed)])
            found = self.trace()
            pairs = pairing.pair(found[0], found[2], port_table, fixed)
        return pairs, found


def _framework(model) -> str | None:
    try:
        return users.framework_of(model)
    except InputError:
        return None


def _unused(torch_model, pairs) -> None:
    """Refuses PyTorch weights that did not run on these inputs: nothing ported could show that
    they are right, and no Keras layer can be their partner."""
    from xdl.backends import torch_trace

    paired = {p.torch.name for p in pairs}
    idle = [key for key in torch_trace.weight_keys(torch_model)
            if not any(key.startswith(name + ".") for name in paired)]
    if idle:
        said = ", ".join(idle[:4]) + (f" and {len(idle) - 4} more" if len(idle) > 4 else "")
        raise InputError(f"the PyTorch model holds weights no paired layer owns ({said}): a module "
                         f"or parameter that did not run on these inputs, or one xdl cannot pair; remove it, or pair "
                         f"it with a port table")


def _enliven(source: str, keras_model, torch_model, pairs) -> list[str]:
    """Seeded random values for the source's BatchNorm statistics and biases still at their
    initial values: a BatchNorm of mean 0, variance 1, scale 1 and shift 0 divides by a constant
    (so a ReLU before or after it agrees), and a zero bias adds nothing anywhere; either would
    hide where it sits. Returns the note saying which, or nothing."""
    rng = np.random.default_rng(0)
    fw = backends.load(source)
    weights = fw.get_weights(keras_model if source == "keras" else torch_model)
    touched = []
    for p in pairs:
        name = p.keras.name if source == "keras" else p.torch.name
        if p.keras.kind == "batchnorm":
            keys = [0, 1, 2, 3] if source == "keras" else [f"{name}.{k}" for k in ("weight", "bias", "running_mean",
                                                                                    "running_var")]
            arrays = weights[name] if source == "keras" else weights
            fresh = [(1.0, 0.5, 1.5), (0.0, -0.2, 0.2), (0.0, -0.2, 0.2), (1.0, 0.5, 1.5)]
            if all(np.all(arrays[k] == v) for k, (v, _, _) in zip(keys, fresh)):
                for k, (_, low, high) in zip(keys, fresh):
                    arrays[k] = rng.uniform(low, high, np.shape(arrays[k])).astype(arrays[k].dtype)
                touched.append(name)
        elif p.keras.kind in explain.FUSED and len(p.keras.params) > 1:
            arrays, key = (weights[name], 1) if source == "keras" else (weights, f"{name}.bias")
            if not np.any(arrays[key]):
                arrays[key] = rng.uniform(-0.2, 0.2, np.shape(arrays[key])).astype(arrays[key].dtype)
                touched.append(name)
    if not touched:
        return []
    fw.set_weights(keras_model if source == "keras" else torch_model, weights)
    return [f"the {source} model's {', '.join(touched)} held initial values (BatchNorm statistics of an identity, zero "
            f"biases), which would hide where those layers sit: given seeded random values, then ported"]


def _steps(keras_model, torch_model, feeds, keywords: bool, outputs, steps: int, lr: float) -> list[dict]:
    """Both models trained `steps` SGD steps from the same (ported) weights on one batch."""
    from xdl.backends import keras_trace, torch_trace

    if steps < 1 or not lr > 0:
        raise InputError(f"--train-steps takes a count >= 1 and --lr a rate > 0 (got {steps}, {lr})")
    # Keras's first output, and PyTorch's of that name where both name them alike (else its first)
    keras_name = next(iter(outputs[0]))
    torch_name = keras_name if set(outputs[0]) == set(outputs[1]) else next(iter(outputs[1]))
    first = outputs[1][torch_name]  # PyTorch's layout; moved for Keras below
    if first.dtype.kind != "f":
        raise InputError("--train-steps trains on the first output, which must be floating point")
    target = np.random.default_rng(0).normal(size=first.shape).astype(first.dtype)
    keras_target = _in_layout({"t": target}, {"k": outputs[0][keras_name]})["k"]
    k = keras_trace.sgd_steps(keras_model, _call(feeds[0], keywords), keras_name, keras_target, steps, lr)
    t = torch_trace.sgd_steps(torch_model, _call(feeds[1], keywords), torch_name, target, steps, lr)
    rows = []
    for n, (a, b) in enumerate(zip(k, t), 1):
        rel = abs(a - b) / max(abs(a), 1e-12)
        rows.append({"step": n, "keras": a, "torch": b, "rel": rel, "ok": rel <= STEP_TARGET})
    return rows


def _in_layout(other: dict, own: dict) -> dict:
    """The other framework's outputs under this one's names (by position), in this one's layout."""
    moved = {}
    for (name, mine), theirs in zip(own.items(), other.values()):
        if theirs.shape != mine.shape and theirs.ndim in (3, 4):
            for candidate in (np.moveaxis(theirs, -1, 1), np.moveaxis(theirs, 1, -1)):
                if candidate.shape == mine.shape:
                    theirs = candidate
                    break
        moved[name] = theirs
    return moved


def _exports(keras_model, torch_model, feeds, keywords: bool, outputs, kind: str, providers, required
             ) -> list[verify.Check]:
    """Both models exported as xdl.check exports them, on one contract: the Keras graph takes
    its images channels first, as PyTorch's does, so that either file can replace the other.
    Each is checked against its own framework (by xdl.check), then run against the other's
    outputs; the two graphs' inputs are compared too."""
    import dataclasses
    import tempfile
    from pathlib import Path

    import onnx

    moved = tuple(n for n, x in feeds[0].items() if x.ndim == 4 and x.shape != feeds[1][n].shape)
    checks, signatures = [], {}
    sides = (("keras", keras_model, feeds[0], outputs[0], outputs[1], moved),
             ("torch", torch_model, feeds[1], outputs[1], outputs[0], ()))
    with tempfile.TemporaryDirectory(prefix="xdl-twin-") as tmp:
        for fw, model, inputs, own, other, channels_first in sides:
            folder, theirs = Path(tmp) / fw, "torch" if fw == "keras" else "keras"
            try:
                said = users.check(model, dict(inputs) if keywords else tuple(inputs.values()), providers=providers,
                                   required=required, kind=kind, raise_on_failure=False, save=folder,
                                   channels_first=channels_first)
            except InputError as exc:  # the exporter cannot: said as this file's check, the report kept
                checks.append(verify.Check(users.model_name(model, fw), f"{fw}.onnx", "-", "error",
                                           exit_code=exc.exit_code, detail=str(exc)))
                continue
            checks += [dataclasses.replace(c, framework=f"{fw}.onnx vs {fw}") for c in said.checks]
            model_bytes, name = (folder / "model.onnx").read_bytes(), users.model_name(model, fw)
            signatures[fw] = _signature(onnx.load_from_string(model_bytes))
            for provider in verify.providers_to_check(providers, required):
                sess, why_not = verify.open_session(model_bytes, provider, required, model=name,
                                                    framework=f"{fw}.onnx vs {theirs}")
                if why_not:
                    checks.append(why_not)
                    continue
                criteria = {n: verify.policy.criteria_for("float32", provider, kind) for n in own}
                checks += verify.run_checks(sess, dict(feeds[1]), _in_layout(other, own), model=name,
                                            framework=f"{fw}.onnx vs {theirs}", provider=provider, criteria=criteria)
    if len(signatures) < 2:
        return checks
    same = signatures["keras"] == signatures["torch"]
    checks.append(verify.Check("both", "one contract", "-", "pass" if same else "fail",
                               exit_code=EXIT_OK if same else EXIT_PARITY,
                               detail=f"both files take {signatures['torch']}" if same else
                               f"the Keras file takes {signatures['keras']}, the PyTorch file {signatures['torch']}"))
    return checks


def _signature(model) -> str:
    """A graph's inputs as `name dtype [dims]`, a dynamic dim as its name."""
    def dims(t):
        return [d.dim_param or d.dim_value for d in t.type.tensor_type.shape.dim]

    return ", ".join(f"{i.name} {_onnx_type(i.type.tensor_type.elem_type)} {dims(i)}" for i in model.graph.input)


def _onnx_type(elem_type: int) -> str:
    import onnx

    return onnx.helper.tensor_dtype_to_np_dtype(elem_type).name


def load_table(where: str) -> list:
    """A user's port table, `MODULE[:NAME]` (NAME defaults to TABLE), imported from the working
    directory: a list of xdl.port.engine.Rule, as in xdl/models/*/port.py.

    Raises:
        InputError: the module cannot be imported, or the name is no list of Rules.
        EnvironmentProblem: the module imports an optional package that is not installed.
    """
    from xdl.exporting import capture

    module, _, name = where.partition(":")
    with capture.captured():  # TensorFlow's start-up lines, where the table's module imports Keras
        table = users.import_attribute(module, name or "TABLE", f"the port table {where}")
    if not isinstance(table, (list, tuple)) or not all(isinstance(rule, engine.Rule) for rule in table):
        raise InputError(f"the port table {where} is no list of xdl.port.engine.Rule (see xdl/models/cnn/port.py)")
    return list(table)


def _port(source: str, keras_model, torch_model, rules: list[engine.Rule]) -> None:
    k, t = backends.load("keras"), backends.load("torch")
    if source == "keras":
        t.set_weights(torch_model, engine.keras_to_torch(rules, k.get_weights(keras_model), t.get_weights(torch_model)))
    else:
        k.set_weights(keras_model, engine.torch_to_keras(rules, t.get_weights(torch_model), k.get_weights(keras_model)))
