"""manifest.json, typed: what an artifact folder says about itself (xdl.artifacts).

One reader (`Manifest.from_json`, which is also the one validation), one writer
(`Manifest.to_json`). Keys this version of xdl does not know are kept in `extra`, and a null
that a file holds where a key is optional is kept too, so a manifest read and written again is
the same bytes. Imports nothing of xdl but its errors: reading a manifest runs no model code.

Readers not yet moved to the attributes may still index a Manifest like the dict it was
(`manifest["contract"]["outputs"]`): that returns the JSON form, as manifest.json holds it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xdl.errors import InputError

MANIFEST_VERSION = 1
REQUIRED_KEYS = ("manifest_version", "model", "framework", "contract", "tolerance", "files")
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
class Tensor:
    """One input or output of the contract, as xdl.spec.TensorSpec.to_json writes it."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str
    layout: str | None = None
    domain: tuple | None = None
    kind: str | None = None  # an output's kind (probabilities, logits...): picks its tolerance
    nonfinite: bool | None = None  # the output may hold NaN or Inf
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Tensor:
        known, rest = _known(cls, data)
        for key in ("shape", "domain"):
            if isinstance(known.get(key), list):
                known[key] = tuple(known[key])
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        out = _dumped(self)
        for key in ("shape", "domain"):
            if key in out and isinstance(out[key], tuple):
                out[key] = list(out[key])
        return out


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
class FileEntry:
    """A listed file's sha256 and size."""

    sha256: str
    bytes: int
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> FileEntry:
        known, rest = _known(cls, data)
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        return _dumped(self)


@dataclass(frozen=True, kw_only=True)
class Variant:
    """What a variant (fp16, int8...) is and what it was converted from (xdl.exporting.variants)."""

    name: str
    dtype: str | None = None
    base_model_sha256: str | None = None
    versions: dict | None = None  # the converter's versions
    calibration: str | None = None  # int8-static's calibration samples
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Variant:
        known, rest = _known(cls, data)
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        return _dumped(self)


@dataclass(frozen=True, kw_only=True)
class Optimisation:
    """Whether the graph was to be optimised, and the rewrites and passes that changed it."""

    enabled: bool | None = None
    applied: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict) -> Optimisation:
        known, rest = _known(cls, data)
        if isinstance(known.get("applied"), list):
            known["applied"] = tuple(known["applied"])
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        out = _dumped(self)
        return {**out, "applied": list(out["applied"])} if isinstance(out.get("applied"), tuple) else out


# The parts that are dataclasses: key -> reader. Every other field holds its JSON as it is.
_PARTS = {"contract": Contract.from_dict, "variant": Variant.from_dict, "optimisation": Optimisation.from_dict,
          "files": lambda files: {name: FileEntry.from_dict(entry) for name, entry in files.items()}}


@dataclass(frozen=True, kw_only=True)
class Manifest(Mapping):
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
    extra: dict = field(default_factory=dict)  # keys this xdl does not know, written back as read

    # -- reading and writing -----------------------------------------------------------------
    @classmethod
    def from_json(cls, text: bytes | str, where: str | Path = "manifest.json") -> Manifest:
        """Parses and checks manifest.json's text; `where` names it in messages.

        Raises:
            InputError: not JSON, lacking a required key, another manifest_version, or a field
                of the wrong type or size.
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

    # -- the dict it was, for readers not yet moved to the attributes --------------------------
    def __getitem__(self, key: str):
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __contains__(self, key) -> bool:
        return key in self.to_dict()


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
    for key in ("model", "framework"):
        if not isinstance(m[key], str) or not m[key] or len(m[key]) > 100:
            return f"{key!r} is not a short non-empty string"
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
    if not isinstance(m["tolerance"], dict):
        return "'tolerance' is not an object"
    return None
