"""The tolerances an artifact is judged by: from the policy in code (xdl/spec/tolerance.py) and
the registered spec, never loosened by what the artifact says about itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from xdl.errors import InputError
from xdl.spec import registry, tasks, tolerance
from xdl.verify.compare import is_classifier
from xdl.verify.model import computing_dtype


@dataclass
class Policy:
    """The tolerances one artifact is judged by on one provider, and where they came from."""

    tolerances: dict[str, tuple[float, float]]  # output name -> (atol, rtol)
    classifier: bool
    note: str = ""  # said in every check's line when the numbers are not simply the policy's
    precision: str = ""  # the precision assumed and why, in a phrase said in every check's line
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
    computes, why = computing_dtype(model)
    variant = manifest.get("variant")
    claimed = "float32"
    if variant:
        if variant["name"] not in tolerance.VARIANT_DTYPES:
            raise InputError(f"unknown variant {variant['name'][:40]!r}; xdl makes {', '.join(tolerance.VARIANT_DTYPES)}")
        claimed = tolerance.VARIANT_DTYPES[variant["name"]]
    if claimed != computes:
        # Refused, not ignored: a manifest that misdescribes its graph is not an xdl artifact.
        raise InputError(f"model.onnx computes in {computes}, the manifest says {claimed} ({why}); "
                         f"re-run `xdl export`")
    outputs = manifest["contract"]["outputs"]
    if manifest["model"] in registry.names():
        spec, part = registered_spec(manifest), manifest.get("part")
        want = [t.to_json() for t in (*spec.inputs, *spec.outputs)]
        have = [*manifest["contract"]["inputs"], *outputs]
        if [(t["name"], list(t["shape"]), t["dtype"]) for t in have] != \
                [(t["name"], t["shape"], t["dtype"]) for t in want]:
            raise InputError(f"the manifest's contract is not the registered {spec.name}'s; re-run `xdl export`")
        return Policy({t.name: tolerance.tolerance_for(computes, provider, t.kind, spec.tolerance_override).pair
                       for t in spec.outputs}, classifier=tasks.get(spec.task).outputs_are_classes and not part,
                      nonfinite=tuple(t.name for t in spec.outputs if t.nonfinite), precision=why)
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
    return Policy(chosen, classifier=is_classifier(manifest), note=note, precision=why)


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
