"""`xdl check --save DIR` (and xdl.check's `save=`): the checked model kept as an xdl artifact, so
that `xdl verify DIR` re-checks it later with the core dependencies only (check once, verify
forever).

The folder is the one every artifact has (xdl.artifacts): model.onnx, test_data_set_0/ with the
example inputs the check ran and the model's own outputs for them, manifest.json listing every
file's sha256. The manifest's task is "user" (xdl.manifest.USER_TASK): `verify` judges the outputs
as `check` did (xdl.verify.policy.for_user_artifact). The contract (with the outputs' kind) and
any tolerance override are also written into model.onnx's metadata, which files[] hashes, so that
a manifest edited on its own disagrees with its graph and is refused.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np
import onnx

from xdl import artifacts, versions
from xdl.errors import InputError
from xdl.exporting import graph
from xdl.manifest import USER_TASK, Contract, Manifest
from xdl.spec import Tolerance, tasks
from xdl.verify import policy

MAX_TENSORS = 16  # what a manifest holds per side (xdl.manifest)


def check_folder(folder: str | Path) -> None:
    """Refuses a --save folder before anything is exported: one under a file, a link, a device or
    a FIFO, a folder inside an artifact, one holding what `xdl check --save` did not write.
    Missing, empty, or a folder an earlier --save wrote and nothing else was added to: accepted
    (that one is replaced whole, so anything its manifest does not list would be lost).

    Raises:
        InputError: the folder is refused (one line: why, and what to do).
    """
    folder = Path(folder)
    try:
        os.stat(folder)
    except NotADirectoryError:  # a folder on the way is a file: nothing can be made there
        above = next(p for p in folder.parents if p.exists())
        raise InputError(f"cannot save to {folder}: {above} is a file, not a folder; choose another --save folder") from None
    except OSError:
        pass  # nothing there yet: made when the check is done
    try:
        artifacts.replaceable(folder, artifacts.MANIFEST, flag="--save")
    except InputError as exc:
        raise InputError(f"cannot save: {exc}") from None
    if (folder / artifacts.MANIFEST).is_file():
        try:
            manifest = artifacts.read_manifest(folder)
        except InputError:
            manifest = None
        if manifest is None or not tasks.is_users(manifest.task):  # a reference model's artifact, or unreadable
            raise InputError(f"{folder} holds an artifact that `xdl check --save` did not write; --save replaces "
                             f"only its own: name another folder")
        extra = _unlisted(folder, manifest.files)
        if extra is not None:
            raise InputError(f"cannot save: {folder} holds {extra}, which its manifest does not list, and --save "
                             f"replaces the whole folder: move {extra} out of it, or name another --save folder")


def _unlisted(folder: Path, listed) -> str | None:
    """The first entry under `folder` (a file, a folder, a link; hidden ones too: .git) that is
    neither manifest.json, a file the manifest lists, nor a folder on the way to one; None if all
    are."""
    keep = {artifacts.MANIFEST, *listed}
    keep |= {parent.as_posix() for name in listed for parent in PurePosixPath(name).parents if parent.parts}
    for here, dirs, files in os.walk(folder):
        for name in sorted(dirs + files):
            relative = (Path(here) / name).relative_to(folder).as_posix()
            if relative not in keep:
                return relative
    return None


def save(folder: str | Path, proto, contract, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray],
         framework: str, name: str, override: Tolerance | None, factory: str | None) -> Path:
    """Writes the checked model, its example inputs and native outputs as an artifact at `folder`
    (atomically: staged in a hidden sibling, then renamed into place; an earlier save there is
    replaced whole) and returns the folder.

    Raises:
        InputError: the folder is refused (check_folder), the contract is larger than a manifest
            holds, or the folder cannot be written.
        EnvironmentProblem: the disk is full or read-only.
    """
    folder = Path(folder)
    check_folder(folder)
    for side in ("inputs", "outputs"):
        count = len(getattr(contract, side))
        if count > MAX_TENSORS:
            raise InputError(f"cannot save {name}: it has {count} {side}, an artifact holds at most {MAX_TENSORS}; "
                             f"check it without --save, or have it return fewer (a transformers model: "
                             f"output_hidden_states=False, output_attentions=False)")
    recorded = Contract.of(contract)
    kept = onnx.ModelProto()
    kept.CopyFrom(proto)  # the checked graph stays as it was: the caller may still use it
    meta = {p.key: p.value for p in kept.metadata_props}
    meta.update(policy.metadata_record(contract, override))
    del kept.metadata_props[:]
    for key, value in sorted(meta.items()):  # metadata only: what the graph computes is what was checked
        entry = kept.metadata_props.add()
        entry.key, entry.value = key, value
    opset = next((o.version for o in kept.opset_import if o.domain in ("", "ai.onnx")), None)
    manifest = Manifest(
        model=name,
        framework=framework,
        task=USER_TASK,
        contract=recorded,
        tolerance=policy.contract_record(contract, override),
        opset=opset,
        ops=graph.op_counts(kept),
        versions={**versions.core(), **versions.record(framework)},
        factory=factory,
        test_data=f"the example inputs xdl check ran ({len(next(iter(inputs.values())))} rows); "
                  f"outputs from native {framework}",
    )
    try:
        return artifacts.write(folder, model=kept, inputs=list(inputs.items()), outputs=list(outputs.items()),
                               weights=None, manifest=manifest.to_dict())  # a dict: checked as a reader checks it
    except OSError as exc:
        raise artifacts.write_failed(exc, folder, "the checked model") from None
