"""The criteria an output is judged by, built here and nowhere else: from the policy in code
(xdl/spec/tolerance.py) and the registered spec, never loosened by what an artifact says about
itself. Every comparison of computed outputs against a reference takes one Criteria per output
to xdl.verify.judge.

    criteria_for   one policy row (computing dtype, provider, output kind)
    for_contract   every output of a user's model (no spec): its row, or exact for integers
    for_spec       every output of a spec (a registered model, a part of one, a variant's dtype)
    for_manifest   every output of a registered float32 artifact, from its spec
    for_artifact   every output of any artifact, at the precision its graph computes in
    for_user_artifact  every output of a user's model saved by `xdl check --save`, as check judged it
    looser         the loosest of several (a pair of runs), its atol scaled (an activation)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import onnx

from xdl.errors import InputError
from xdl.manifest import Manifest
from xdl.spec import registry, tasks, tolerance
from xdl.verify.model import computing_dtype


@dataclass(frozen=True)
class Criteria:
    """How one output is judged: its shape first, then element by element
    |actual - expected| <= atol + rtol * |expected|.

    Built in this module only (criteria_for, for_spec, for_manifest, for_artifact, looser).

    Raises:
        InputError: a tolerance that is negative or not finite (it would pass anything).
    """

    atol: float
    rtol: float
    classes: bool = False  # the outputs are class scores: top-1 agreement is reported beside the verdict
    nonfinite: bool = False  # NaN/Inf may appear, at the positions the reference has them (the spec says so)
    note: str = ""  # said in every check's line: the precision assumed and why, a bounded manifest...

    def __post_init__(self):
        if not (np.isfinite(self.atol) and np.isfinite(self.rtol) and self.atol >= 0 and self.rtol >= 0):
            raise InputError(f"tolerance atol {self.atol!r}, rtol {self.rtol!r} refused: both must be finite and >= 0")

    @property
    def pair(self) -> tuple[float, float]:
        return self.atol, self.rtol


def criteria_for(dtype: str, provider: str, kind: str, *, override: tolerance.Tolerance | None = None,
                 classes: bool = False, nonfinite: bool = False, note: str = "") -> Criteria:
    """The policy's row for outputs of `kind` computed in `dtype` on `provider` (a model's
    `override` replaces the float32 numbers, except under TF32: xdl/spec/tolerance.py).

    Raises:
        InputError: unknown dtype, provider or output kind.
    """
    atol, rtol = tolerance.tolerance_for(dtype, provider, kind, override).pair
    return Criteria(atol, rtol, classes=classes, nonfinite=nonfinite, note=note)


def for_contract(contract, provider: str, kind: str, override: tolerance.Tolerance | None = None
                 ) -> dict[str, Criteria]:
    """Criteria per output of a user's model (xdl.check), by each output's values' dtype: integer
    and bool outputs (ids, an argmax, a mask) are equal value for value, nothing rounds them;
    float outputs take the policy's row for `kind` (or `override`), float64 float32's (the policy
    has none for float64: a graph computing in float32 inside must pass). The model has no task:
    the float outputs' kind says whether they are class scores."""
    floats = [t for t in contract.outputs if np.dtype(t.dtype).kind == "f"]
    classes = outputs_are_classes(kinds=tuple(t.kind for t in floats))
    criteria = {}
    for t in contract.outputs:
        if t not in floats:
            criteria[t.name] = Criteria(0.0, 0.0, note="integers compared exactly")
            continue
        chosen = tolerance.tolerance_for("float16" if t.dtype == "float16" else "float32", provider, kind, override)
        # an override is the user's decision, not the policy's: every line it judges says so, and why
        note = f"tolerance override atol {chosen.atol:g}, rtol {chosen.rtol:g}: {chosen.reason}" \
            if chosen is override else ""  # the policy keeps TF32's and float16's numbers
        criteria[t.name] = Criteria(chosen.atol, chosen.rtol, classes=classes, note=note)
    return criteria


def contract_record(contract, override: tolerance.Tolerance | None) -> dict:
    """What a user's saved artifact records of the tolerance (xdl.parity.saving): the policy
    version, the override with its reason (or None), and per output and provider the numbers and
    why, as for_contract picks them."""
    outputs = {}
    for t in contract.outputs:
        if np.dtype(t.dtype).kind != "f":
            outputs[t.name] = {p: {"atol": 0.0, "rtol": 0.0, "reason": "integers compared exactly"}
                               for p in tolerance.PROVIDERS}
            continue
        row = "float16" if t.dtype == "float16" else "float32"
        outputs[t.name] = {p: tolerance.tolerance_for(row, p, t.kind, override).to_json() for p in tolerance.PROVIDERS}
    return {"policy_version": tolerance.POLICY_VERSION, "override": None if override is None else override.to_json(),
            "outputs": outputs}


def user_override(kind: str, atol: float | None, rtol: float | None, reason: str) -> tolerance.Tolerance:
    """A user's override (`xdl check --atol/--rtol --reason`): the numbers given, and for the one
    not given the policy's float32 CPU number for outputs of `kind`."""
    policy = tolerance.tolerance_for("float32", "cpu", kind)
    return tolerance.Tolerance(policy.atol if atol is None else atol, policy.rtol if rtol is None else rtol, reason)


def outputs_are_classes(*, task: str | None = None, part: str | None = None,
                        kinds: tuple[str | None, ...] = ()) -> bool:
    """Whether a model's outputs are class scores (top-1 agreement is reported): its task's are
    (classification, tagging), a part's (an encoder's codes...) never. A model without a task (a
    user's, checked by xdl.check) says so by its outputs' `kinds`: all probabilities."""
    if part:
        return False
    if task is None:
        return bool(kinds) and all(kind == "probabilities" for kind in kinds)
    return tasks.get(task).outputs_are_classes


def for_spec(spec, provider: str, dtype: str = "float32", *, part: str | None = None,
             note: str = "") -> dict[str, Criteria]:
    """Criteria per output of a registered model's `spec` (or of its `part`'s spec) computed in
    `dtype` on `provider`: the policy's numbers or the spec's override, the NaN it allows."""
    classes = outputs_are_classes(task=spec.task, part=part)
    override = spec.expectations.tolerance_override
    return {t.name: criteria_for(dtype, provider, t.kind, override=override, classes=classes,
                                 nonfinite=t.nonfinite, note=note) for t in spec.contract.outputs}


def for_manifest(manifest: Manifest, provider: str) -> dict[str, Criteria]:
    """Criteria per output of a registered model's float32 artifact (or part), from its spec."""
    return for_spec(registered_spec(manifest), provider, part=manifest.part)


def for_artifact(manifest: Manifest, model: onnx.ModelProto, provider: str) -> dict[str, Criteria]:
    """Criteria per output of any artifact on `provider`, never loosened by what it says.

    A registered model is judged by its spec (its override, if it states one) at the precision
    its graph computes in. Any other artifact's recorded numbers are used only where they are
    at least as strict as the policy's for its output kinds.

    Raises:
        InputError: the manifest disagrees with the graph or the registered spec, names an
            unknown output kind, or records a tolerance that is not a finite number >= 0.
    """
    if tasks.is_users(manifest.task):
        return for_user_artifact(manifest, model, provider)
    computes, why = computing_dtype(model)
    variant = manifest.variant
    claimed = "float32"
    if variant:
        if variant.name not in tolerance.VARIANT_DTYPES:
            raise InputError(f"unknown variant {variant.name[:40]!r}; xdl makes {', '.join(tolerance.VARIANT_DTYPES)}")
        claimed = tolerance.VARIANT_DTYPES[variant.name]
    if claimed != computes:
        # Refused, not ignored: a manifest that misdescribes its graph is not an xdl artifact.
        raise InputError(f"model.onnx computes in {computes}, the manifest says {claimed} ({why}); "
                         f"re-run `xdl export`")
    outputs = manifest.contract.outputs
    if manifest.model in registry.names():
        spec = registered_spec(manifest)
        want = [t.to_json() for t in (*spec.contract.inputs, *spec.contract.outputs)]
        have = [*manifest.contract.inputs, *outputs]
        if [(t.name, list(t.shape), t.dtype) for t in have] != \
                [(t["name"], t["shape"], t["dtype"]) for t in want]:
            raise InputError(f"the manifest's contract is not the registered {spec.name}'s; re-run `xdl export`")
        return for_spec(spec, provider, computes, part=manifest.part, note=why)
    # Not a registered model: the recorded numbers, bounded by the policy for the output's kind.
    chosen, bounded = {}, []
    for t in outputs:
        if t.kind not in tolerance.OUTPUT_KINDS:
            raise InputError(f"output {t.name[:40]!r} has kind {str(t.kind)[:40]!r}; an unregistered model's "
                             f"outputs must state one of {', '.join(tolerance.OUTPUT_KINDS)}")
        policy = tolerance.tolerance_for(computes, provider, t.kind).pair
        try:
            recorded = manifest.tolerance["outputs"][t.name][provider]
            atol, rtol = float(recorded["atol"]), float(recorded["rtol"])
        except (KeyError, TypeError, ValueError):
            atol, rtol = policy
        if not (np.isfinite(atol) and np.isfinite(rtol) and atol >= 0 and rtol >= 0):
            raise InputError(f"the manifest's tolerance for {t.name[:40]!r} ({atol!r}, {rtol!r}) is refused: "
                             f"tolerances must be finite and >= 0")
        if atol > policy[0] or rtol > policy[1]:
            bounded.append(t.name)
        chosen[t.name] = (min(atol, policy[0]), min(rtol, policy[1]))
    note = f"tolerance bounded by the policy (the manifest asked for more for {', '.join(bounded)})" if bounded else ""
    classes = outputs_are_classes(task=manifest.task, part=manifest.part, kinds=tuple(t.kind for t in outputs))
    note = "; ".join(filter(None, [note, why]))
    return {name: Criteria(atol, rtol, classes=classes, note=note) for name, (atol, rtol) in chosen.items()}


# model.onnx's metadata that a user's saved artifact records its judgement in (xdl.parity.saving):
# the contract as every export records it (its tensors, inputs then outputs), and the override.
CONTRACT_KEY, OVERRIDE_KEY = "xdl.contract", "xdl.tolerance_override"


def metadata_record(contract, override: tolerance.Tolerance | None) -> dict[str, str]:
    """model.onnx's metadata entries of a user's saved artifact, which for_user_artifact reads."""
    return {CONTRACT_KEY: json.dumps([t.to_json() for t in (*contract.inputs, *contract.outputs)]),
            OVERRIDE_KEY: json.dumps(None if override is None else override.to_json())}


def _recorded(model: onnx.ModelProto, key: str):
    """The JSON value model.onnx's metadata holds under `key`; a string no JSON value equals where
    there is none, or none readable."""
    for entry in model.metadata_props:
        if entry.key == key:
            try:
                return json.loads(entry.value)
            except ValueError:
                break
    return "(not recorded)"


def for_user_artifact(manifest: Manifest, model: onnx.ModelProto, provider: str) -> dict[str, Criteria]:
    """Criteria per output of a user's model saved by `xdl check --save` (task "user"): those
    check judged it by (for_contract: the outputs' kind, integers exact, and the override it was
    given, with its reason said on every line). The contract and the override must be the ones
    model.onnx records in its metadata, which the manifest's files[] hashes: a manifest edited on
    its own (a looser kind, a larger override) is refused, as a changed file is.

    Raises:
        InputError: the manifest disagrees with model.onnx, or records what check never writes.
    """
    override_json = manifest.tolerance.get("override")
    tensors = [t.to_dict() for t in (*manifest.contract.inputs, *manifest.contract.outputs)]
    for key, value, what in ((CONTRACT_KEY, tensors, "contract"), (OVERRIDE_KEY, override_json, "tolerance override")):
        if _recorded(model, key) != value:
            raise InputError(f"the manifest's {what} is not the one model.onnx records: the manifest was edited; "
                             f"re-run `xdl check --save`")
    kinds = {t.kind for t in manifest.contract.outputs if np.dtype(t.dtype).kind == "f"} or {"logits"}
    if len(kinds) > 1 or not kinds <= set(tolerance.OUTPUT_KINDS):
        raise InputError(f"the outputs' kinds {sorted(map(str, kinds))} are not one of "
                         f"{', '.join(tolerance.OUTPUT_KINDS)}; re-run `xdl check --save`")
    override = None
    if override_json is not None:
        try:
            override = tolerance.Tolerance(float(override_json["atol"]), float(override_json["rtol"]),
                                           str(override_json["reason"]))
        except (KeyError, TypeError, ValueError):
            raise InputError("the manifest's tolerance override lacks atol, rtol or reason; "
                             "re-run `xdl check --save`") from None
    return for_contract(manifest.contract, provider, kinds.pop(), override)


def at_magnitude(criteria: Criteria, magnitude: float) -> Criteria:
    """`criteria` for values of `magnitude` (max |reference|): atol scaled with it, down as well as
    up, so that two runs of one network in float32 (xdl twin), whose differences grow with their
    values, are held to one relative precision whatever their scale. A floor keeps a reference
    of zeros from demanding exact equality."""
    return dataclasses.replace(criteria, atol=criteria.atol * max(magnitude, 1e-6))


def looser(first: Criteria, *others: Criteria, atol_scale: float = 1.0) -> Criteria:
    """The loosest of `first` and `others`, number by number: two runs compared with each other
    are held to the looser of their tolerances (a CUDA TF32 run to TF32's, whatever it is paired
    with). `atol_scale` (>= 1) scales atol with the magnitude of the values (a layer's
    activations of ~50 held to the same relative precision as probabilities)."""
    every = (first, *others)
    return dataclasses.replace(
        first, atol=max(c.atol for c in every) * max(1.0, atol_scale), rtol=max(c.rtol for c in every),
        classes=all(c.classes for c in every), nonfinite=any(c.nonfinite for c in every),
        note="; ".join(dict.fromkeys(c.note for c in every if c.note)))


def registered_spec(manifest: Manifest):
    """The spec of a registered model's artifact, or of the part (encoder, decoder) it holds.

    Raises:
        InputError: the model is not registered, or has no such part.
    """
    spec, part = registry.get(manifest.model), manifest.part
    if not part:
        return spec
    if part not in [name for name, _ in spec.contract.parts]:
        raise InputError(f"{spec.name} has no part {part[:40]!r}; re-run `xdl export`")
    return spec.part(part)
