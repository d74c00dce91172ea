"""Both twins' activations layer by layer, layouts reconciled: the first layer whose error
exceeds the tolerance is where the twins part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xdl import backends, models, verify


@dataclass
class LayerDiff:
    keras_layer: str
    torch_module: str
    shape: list
    max_abs: float | None
    max_rel: float | None
    ok: bool
    detail: str = ""


def _to_torch_layout(activation: np.ndarray, layout) -> np.ndarray:
    if layout == "NHWC":
        return activation.transpose(0, 3, 1, 2)
    if layout == "NWC":  # a sequence: (batch, time, channels) -> (batch, channels, time)
        return activation.transpose(0, 2, 1)
    if isinstance(layout, tuple):  # a flattened (h, w, c) activation, reordered to C, H, W
        h, w, c = layout
        return activation.reshape(-1, h, w, c).transpose(0, 3, 1, 2).reshape(len(activation), -1)
    return activation


def compare(spec, keras_net, torch_net, x: np.ndarray) -> list[LayerDiff]:
    """Compares both twins' activations at every tap of the model's port.py, in order."""
    taps = models.taps(spec.name)
    k = backends.load("keras").activations(keras_net, spec, x, [t[0] for t in taps])
    t = backends.load("torch").activations(torch_net, spec, x, [t[1] for t in taps])
    output = verify.policy.for_spec(spec, "cpu")[spec.output.name]
    diffs = []
    for keras_layer, torch_module, layout in taps:
        expected, actual = _to_torch_layout(k[keras_layer], layout), t[torch_module]
        if layout == "last":  # Keras's recurrent layer returns the last step; PyTorch's, every step
            actual = actual[:, -1]
        if expected.shape != actual.shape:
            diffs.append(LayerDiff(keras_layer, torch_module, list(actual.shape), None, None, False,
                                   f"shape {list(actual.shape)} vs Keras {list(expected.shape)}"))
            continue
        # Activations are not bounded like probabilities; the tolerance scales with the layer's
        # largest value, so a layer of values ~50 is held to the same relative precision.
        scale = max(1.0, float(np.abs(expected).max()))
        c = verify.judge(actual, expected, verify.policy.looser(output, atol_scale=scale))
        diffs.append(LayerDiff(keras_layer, torch_module, list(actual.shape), c.max_abs, c.max_rel, c.ok, c.detail))
    return diffs


def first_divergence(diffs: list[LayerDiff]) -> LayerDiff | None:
    return next((d for d in diffs if not d.ok), None)


def render(model: str, diffs: list[LayerDiff]) -> str:
    from xdl.report import table

    rows = [[d.keras_layer, d.torch_module, str(d.shape), "-" if d.max_abs is None else f"{d.max_abs:.1e}",
             "-" if d.max_rel is None else f"{d.max_rel:.1e}", "ok" if d.ok else "DIFFERS"] for d in diffs]
    first = first_divergence(diffs)
    verdict = (f"{model}: the twins part at Keras layer {first.keras_layer!r} / PyTorch module "
               f"{first.torch_module!r}: {first.detail}" if first else f"{model}: every layer agrees")
    return table(["keras layer", "torch module", "shape (torch layout)", "max abs", "max rel", ""], rows) + "\n" + verdict
