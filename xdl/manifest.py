"""manifest.json, typed: what an artifact folder says about itself (xdl.artifacts).

One reader (`Manifest.from_json`, which is also the one validation), one writer
(`Manifest.to_json`). Keys this version of xdl does not know are kept in `extra`, and a null
that a file holds where a key is optional is kept too, so a manifest read and written again is
the same bytes. Imports nothing of xdl but its errors and the names of the frameworks and tasks
(xdl.spec): reading a manifest runs no model code.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xdl.errors import InputError
from xdl.spec.registry import FRAMEWORKS
from xdl.spec.tasks import TASKS, USER

MANIFEST_VERSION = 1
REQUIRED_KEYS = ("manifest_version", "model", "framework", "contract", "tolerance", "files")
USER_TASK = USER  # a user's model saved by `xdl check --save` (xdl.spec.tasks.USER)
DTYPES = ("float32", "float16", "float64", "int64", "int32", "uint8", "int8", "bool")


def _known(cls, data: dict) -> tuple[dict, dict]:
    """(the values of `cls`'s fields in `data`, the rest): a null stays in the rest, so that it is
    written back; the field itself is None, as for a key that is absent."""
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    known = {k: v for k, v in data.items() if k in names and v is not None}
    return known, {k: v for k, v in data.items() if k not in known}


def _dumped(obj, ignore: tuple[str, ...] = ()) -> dict:
    """The JSON form of a part: its extra keys, then every field that is not None."""
    out = dict(obj.extra)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name != "extra" and f.name not in ignore and value is not None:
            out[f.name] = value
    return out


@dataclass(frozen=True, kw_only=True)
class _Part:
    """A part of the manifest that is one JSON object, read and written field by field: a field
    typed as a tuple holds the JSON list as a tuple; a null, and a key the part does not know,
    are kept in `extra` and written back."""

    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict):
        known, rest = _known(cls, data)
        for key in _tuple_fields(cls):
            if isinstance(known.get(key), list):
                known[key] = tuple(known[key])
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        out = _dumped(self)
        for key in _tuple_fields(type(self)):
            if isinstance(out.get(key), tuple):
                out[key] = list(out[key])
        return out


def _tuple_fields(cls) -> list[str]:
    # The annotations are strings (`from __future__ import annotations`): "tuple[str, ...] | None"...
    return [f.name for f in dataclasses.fields(cls) if str(f.type).startswith("tuple")]


@dataclass(frozen=True, kw_only=True)
class Tensor(_Part):
    """One input or output of the contract, as xdl.spec.TensorSpec.to_json writes it."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    layout: str | None = None
    domain: tuple | None = None
    kind: str | None = None  # an output's kind (probabilities, logits...): picks its tolerance
    nonfinite: bool | None = None  # the output may hold NaN or Inf


@dataclass(frozen=True, kw_only=True)
class Contract:
    """The graph's inputs and outputs, in order."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Contract:
        rest = {k: v for k, v in data.items() if k not in ("inputs", "outputs")}
        return cls(inputs=tuple(map(Tensor.from_dict, data["inputs"])),
                   outputs=tuple(map(Tensor.from_dict, data["outputs"])), extra=rest)

    @classmethod
    def of(cls, contract) -> Contract:
        """A spec's contract (an xdl.spec.Contract, or anything with TensorSpec inputs and outputs)."""
        return cls(inputs=tuple(Tensor.from_dict(t.to_json()) for t in contract.inputs),
                   outputs=tuple(Tensor.from_dict(t.to_json()) for t in contract.outputs))

    def to_dict(self) -> dict:
        return {**self.extra, "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs]}


@dataclass(frozen=True, kw_only=True)
class FileEntry(_Part):
    """A listed file's sha256 and size."""

    sha256: str
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Variant(_Part):
    """What a variant (fp16, int8...) is and what it was converted from (xdl.exporting.variants)."""

    name: str
    dtype: str | None = None
    base_model_sha256: str | None = None
    versions: dict | None = None  # the converter's versions
    calibration: str | None = None  # int8-static's calibration samples


@dataclass(frozen=True, kw_only=True)
class Optimisation(_Part):
    """Whether the graph was to be optimised, and the rewrites and passes that changed it."""

    enabled: bool | None = None
    applied: tuple[str, ...] | None = None


# The parts that are dataclasses: key -> reader. Every other field holds its JSON as it is.
_PARTS = {"contract": Contract.from_dict, "variant": Variant.from_dict, "optimisation": Optimisation.from_dict,
          "files": lambda files: {name: FileEntry.from_dict(entry) for name, entry in files.items()}}


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """An artifact's manifest.json. The optional fields are None where the file has no such key."""

    model: str
    framework: str
    contract: Contract
    tolerance: dict  # xdl.spec.tolerance.manifest_entry: per output and provider, atol, rtol and why
    files: dict[str, FileEntry] = field(default_factory=dict)  # filled in by xdl.artifacts.write
    manifest_version: int = MANIFEST_VERSION
    task: str | None = None
    part: str | None = None  # "encoder", "decoder"...: a sub-model of `model`
    variant: Variant | None = None
    opset: int | None = None
    optimisation: Optimisation | None = None
    ops: dict | None = None  # op type -> how many the graph holds
    versions: dict | None = None  # the libraries the bytes depend on (xdl.versions)
    # provenance: the training run the weights come from (xdl.training.PROVENANCE)
    dataset: str | None = None
    data_source: str | None = None
    seed: int | None = None
    weights_sha256: str | None = None
    metrics: dict | None = None
    test_data: str | None = None  # what test_data_set_0 holds, in words
    policy_check: dict | None = None  # an agent's: its exported policy plays as the native one
    factory: str | None = None  # a user's model (task "user"): the MODULE:FACTORY `xdl check` called
    extra: dict = field(default_factory=dict)  # keys this xdl does not know, written back as read

    # -- reading and writing -----------------------------------------------------------------
    @classmethod
    def from_json(cls, text: bytes | str, where: str | Path = "manifest.json") -> Manifest:
        """Parses and checks manifest.json's text; `where` names it in messages.

        Raises:
            InputError: not JSON, lacking a required key, another manifest_version, a field of
                the wrong type or size, or a framework or task this xdl does not know.
        """
        try:
            data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise InputError(f"{where} is not valid JSON ({reason}); re-run `xdl export`") from None
        return cls.from_dict(data, where)

    @classmethod
    def from_dict(cls, data: Any, where: str | Path = "manifest.json") -> Manifest:
        """A manifest from its parsed JSON, checked as from_json checks it.

        Raises:
            InputError: as from_json.
        """
        if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS):
            raise InputError(f"{where} lacks one of {', '.join(REQUIRED_KEYS)}; re-run `xdl export`")
        if data["manifest_version"] != MANIFEST_VERSION:
            raise InputError(
                f"{where} has manifest_version {shown(data['manifest_version'])}; this xdl reads "
                f"{MANIFEST_VERSION}: upgrade xdl or re-export"
            )
        problem = _problem(data)
        if problem:
            raise InputError(f"{where}: {problem}; re-run `xdl export`")
        known, rest = _known(cls, data)
        if not isinstance(known.get("optimisation", {}), dict):  # not checked: kept as it is, unread
            rest["optimisation"] = known.pop("optimisation")
        return cls(**{k: _PARTS[k](v) if k in _PARTS else v for k, v in known.items()}, extra=rest)

    def to_dict(self) -> dict:
        """The JSON form: what manifest.json holds."""
        out = _dumped(self, ignore=tuple(_PARTS))
        for key in _PARTS:
            value = getattr(self, key)
            if value is not None:
                out[key] = {n: e.to_dict() for n, e in value.items()} if key == "files" else value.to_dict()
        return out

    def to_json(self) -> str:
        """manifest.json's text as xdl writes it: one form, so that a signature over it can be
        checked against the manifest that was parsed (xdl.signing)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def replace(self, **changes) -> Manifest:
        """A copy with `changes` (field name -> value; an unknown name goes to `extra`)."""
        names = {f.name for f in dataclasses.fields(self)}
        extra = {k: v for k, v in changes.items() if k not in names}
        fields = {k: v for k, v in changes.items() if k in names}
        return dataclasses.replace(self, **fields, **({"extra": {**self.extra, **extra}} if extra else {}))

    # -- what readers ask ----------------------------------------------------------------------
    @property
    def flavour(self) -> str:
        """"keras", "torch", a variant such as "torch-int8", or a part such as "keras-decoder"."""
        if self.variant:
            return f"{self.framework}-{self.variant.name}"
        if self.part:
            return f"{self.framework}-{self.part}"
        return self.framework


def shown(value, limit: int = 60) -> str:
    """A manifest value as an error message may quote it: repr'd (no control characters) and short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tensor_problem(t, where: str) -> str | None:
    if not isinstance(t, dict):
        return f"{where} is not an object"
    if not isinstance(t.get("name"), str) or not t["name"] or len(t["name"]) > 200:
        return f"{where}.name is not a short non-empty string"
    shape = t.get("shape")
    if not isinstance(shape, list) or not shape or len(shape) > 8 or any(
            d is not None and (type(d) is not int or d < 1) for d in shape):
        return f"{where}.shape {shown(shape)} is not a list of positive integers and nulls"
    if t.get("dtype") not in DTYPES:
        return f"{where}.dtype {shown(t.get('dtype'))} is not one of {', '.join(DTYPES)}"
    if "kind" in t and not isinstance(t["kind"], str):
        return f"{where}.kind is not a string"
    return None


def _problem(m: dict) -> str | None:
    """What is wrong with a manifest's structure, or None: every field a reader uses, typed."""
    if not isinstance(m["model"], str) or not m["model"] or len(m["model"]) > 100:
        return "'model' is not a short non-empty string"
    if m["framework"] not in FRAMEWORKS:  # a variant or a part has its own field
        return f"'framework' {shown(m['framework'])} is not one of {', '.join(FRAMEWORKS)}"
    if m.get("task") is not None and (not isinstance(m["task"], str) or m["task"] not in (*TASKS, USER_TASK)):
        return f"'task' {shown(m['task'])} is not one of {', '.join(sorted((*TASKS, USER_TASK)))}"
    if m.get("factory") is not None and (not isinstance(m["factory"], str) or len(m["factory"]) > 300):
        return f"'factory' {shown(m['factory'])} is not a MODULE:FACTORY string"
    if m.get("opset") is not None and (type(m["opset"]) is not int or m["opset"] < 1):
        return f"'opset' {shown(m['opset'])} is not an ONNX opset: a positive integer, such as 18"
    for key in ("variant", "part"):
        if m.get(key) is not None and not isinstance(m[key], dict if key == "variant" else str):
            return f"{key!r} has the wrong type"
    if m.get("variant") is not None and not isinstance(m["variant"].get("name"), str):
        return "'variant' has no name"
    contract = m["contract"]
    if not isinstance(contract, dict):
        return "'contract' is not an object"
    for side in ("inputs", "outputs"):
        tensors = contract.get(side)
        if not isinstance(tensors, list) or not tensors or len(tensors) > 16:
            return f"contract.{side} is not a list of 1 to 16 tensors"
        for i, t in enumerate(tensors):
            problem = _tensor_problem(t, f"contract.{side}[{i}]")
            if problem:
                return problem
    names = [t["name"] for side in ("inputs", "outputs") for t in contract[side]]
    if len(set(names)) != len(names):
        return "contract names a tensor twice"
    files = m["files"]
    if not isinstance(files, dict) or not files:
        return "'files' is not an object listing the artifact's files"
    for name, entry in files.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or \
                type(entry.get("bytes")) is not int or entry["bytes"] < 0:
            return f"files[{shown(name)}] lacks a sha256 string and a byte count"
    if not isinstance(m["tolerance"], dict) or not isinstance(m["tolerance"].get("outputs"), dict):
        return (f"'tolerance' {shown(m['tolerance'])} is not an object holding 'outputs' (per output and "
                f"provider, atol and rtol)")
    return None
