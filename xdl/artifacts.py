"""Exported artifacts on disk: exported_models/<model>/<framework>/.

A folder holds
    model.onnx                 the exported graph, on the model's contract
    test_data_set_0/*.pb       a fixed batch of real test samples and the native framework's
                               outputs (ONNX model-zoo format, onnx.numpy_helper TensorProtos)
    model.weights.h5 | model.safetensors
                               the native weights the export came from (no pickle)
    manifest.json              sha256 and size of every file, the contract, the tolerance,
                               versions, metrics and provenance

Writing is atomic at the folder level: everything goes into a hidden sibling folder, which
then replaces the old one with renames, so an interrupted export leaves the previous artifact
whole. Reading checks every file's size and sha256 before anything is parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import onnx
from onnx import numpy_helper

from xdl.errors import InputError

MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
TEST_DIR = "test_data_set_0"
MANIFEST_VERSION = 1
MAX_FILE_BYTES = 2 * 1024**3  # protobuf's own limit; a bigger "model.onnx" is not ours
_REQUIRED_KEYS = ("manifest_version", "model", "framework", "contract", "tolerance", "files")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text(path: str | Path, text: str) -> Path:
    """Writes a text file atomically (temp file, then rename), creating its folder: a reader
    never sees half a report, manifest or metrics file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(
    folder: Path,
    *,
    model: onnx.ModelProto | bytes,
    inputs: list[tuple[str, np.ndarray]],
    outputs: list[tuple[str, np.ndarray]],
    weights: Path | None,
    manifest: dict,
) -> Path:
    """Writes one artifact folder atomically and returns it.

    `manifest` gets the file list (sha256, bytes) added; everything else in it is the caller's.
    `weights` is None for a variant, whose weights live only in its model.onnx.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / TEST_DIR).mkdir(parents=True)
        (tmp / MODEL_FILE).write_bytes(model if isinstance(model, bytes) else model.SerializeToString())
        for kind, tensors in (("input", inputs), ("output", outputs)):
            for i, (name, array) in enumerate(tensors):
                proto = numpy_helper.from_array(np.ascontiguousarray(array), name=name)
                (tmp / TEST_DIR / f"{kind}_{i}.pb").write_bytes(proto.SerializeToString())
        if weights is not None:
            shutil.copyfile(weights, tmp / weights.name)
        files = sorted(p for p in tmp.rglob("*") if p.is_file())
        manifest = {
            **manifest,
            "manifest_version": MANIFEST_VERSION,
            "files": {
                p.relative_to(tmp).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
                for p in files
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return folder


def find(paths: list[str | Path]) -> list[Path]:
    """Returns the artifact folders (those holding a manifest.json) at or under `paths`.

    Raises:
        InputError: a path does not exist, or no artifact is found under it.
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise InputError(f"{path} does not exist; pass an artifact folder or exported_models/")
        if path.is_file():
            path = path.parent
        folders = [path] if (path / MANIFEST).exists() else sorted(
            m.parent for m in path.rglob(MANIFEST) if not any(p.startswith(".") for p in m.parts)
        )
        if not folders:
            raise InputError(f"no {MANIFEST} found under {path}; run `xdl export` first")
        found.extend(f for f in folders if f not in found)
    return found


@dataclass
class Artifact:
    """A verified artifact folder, loaded: nothing here was parsed before its sha256 matched."""

    folder: Path
    manifest: dict
    model_bytes: bytes
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]

    @property
    def label(self) -> str:
        return f"{self.manifest['model']}/{flavour(self.manifest)}"


def flavour(manifest: dict) -> str:
    """"keras", "torch", a variant such as "torch-int8", or a part such as "keras-decoder"."""
    variant = manifest.get("variant")
    if variant:
        return f"{manifest['framework']}-{variant['name']}"
    if manifest.get("part"):
        return f"{manifest['framework']}-{manifest['part']}"
    return manifest["framework"]


def read_manifest(folder: Path) -> dict:
    """Parses and sanity-checks manifest.json.

    Raises:
        InputError: missing, not JSON, or lacking required keys.
    """
    path = Path(folder) / MANIFEST
    if path.is_symlink() or not path.is_file():
        raise InputError(f"{path} is missing or not a regular file; re-run `xdl export`")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); re-run `xdl export`") from None
    if not isinstance(manifest, dict) or any(k not in manifest for k in _REQUIRED_KEYS):
        raise InputError(f"{path} lacks one of {', '.join(_REQUIRED_KEYS)}; re-run `xdl export`")
    if manifest["manifest_version"] != MANIFEST_VERSION:
        raise InputError(
            f"{path} has manifest_version {manifest['manifest_version']!r}; this xdl reads "
            f"{MANIFEST_VERSION}: upgrade xdl or re-export"
        )
    return manifest


def _checked_file(folder: Path, relative: str, entry: dict) -> Path:
    rel = PurePosixPath(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(f"{folder / MANIFEST} lists {relative!r}, a path outside the artifact")
    path = folder / rel
    if path.is_symlink():
        raise InputError(f"{path} is a symbolic link; artifacts must hold regular files")
    if not path.is_file():
        raise InputError(f"{path} is missing; re-run `xdl export`")
    stat = path.stat()
    if stat.st_nlink > 1:
        raise InputError(f"{path} is a hard link to another file; artifacts must hold their own copies")
    if stat.st_size != entry.get("bytes") or stat.st_size > MAX_FILE_BYTES:
        raise InputError(
            f"{path} has {stat.st_size} bytes, the manifest says {entry.get('bytes')}: "
            f"the file was changed or truncated; re-run `xdl export`"
        )
    if sha256_file(path) != entry.get("sha256"):
        raise InputError(f"{path} does not match its sha256 in the manifest: tampered or corrupt")
    return path


def _read_tensors(folder: Path, kind: str, names: list[str]) -> dict[str, np.ndarray]:
    tensors = {}
    for i, name in enumerate(names):
        path = folder / TEST_DIR / f"{kind}_{i}.pb"
        proto = onnx.TensorProto()
        try:
            proto.ParseFromString(path.read_bytes())
        except Exception as exc:  # protobuf raises its own DecodeError
            raise InputError(f"{path} is not a TensorProto ({exc})") from None
        tensors[name] = numpy_helper.to_array(proto)
    return tensors


def load(folder: Path) -> Artifact:
    """Reads an artifact after checking every listed file's size and sha256.

    Raises:
        InputError: anything missing, tampered, linked, outside the folder or unreadable.
    """
    folder = Path(folder)
    if folder.is_symlink():
        raise InputError(f"{folder} is a symbolic link; verify the real folder instead")
    manifest = read_manifest(folder)
    files = manifest["files"]
    for required in (MODEL_FILE, f"{TEST_DIR}/input_0.pb", f"{TEST_DIR}/output_0.pb"):
        if required not in files:
            raise InputError(f"{folder / MANIFEST} does not list {required}; re-run `xdl export`")
    for relative, entry in files.items():
        _checked_file(folder, relative, entry)
    contract = manifest["contract"]
    return Artifact(
        folder=folder,
        manifest=manifest,
        model_bytes=(folder / MODEL_FILE).read_bytes(),
        inputs=_read_tensors(folder, "input", [t["name"] for t in contract["inputs"]]),
        outputs=_read_tensors(folder, "output", [t["name"] for t in contract["outputs"]]),
    )
