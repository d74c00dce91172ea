"""`xdl doctor`: what is installed, what ONNX Runtime can do here, and what is known to break.

Reads package versions from their metadata (importing neither TensorFlow nor PyTorch); probes
ONNX Runtime with tiny models for the highest opset and IR version it accepts and for whether
the CUDA provider really initialises.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from importlib import metadata

import onnx
from onnx import TensorProto, helper

from xdl.errors import EXIT_ENVIRONMENT, EXIT_OK
from xdl.exporting.graph import OPSET

PACKAGES = ("numpy", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorflow", "tensorflow-cpu", "keras",
            "tf2onnx", "torch", "onnxscript", "safetensors", "scikit-learn")
REQUIRED_OPSET = OPSET  # the opset xdl's exports use


@dataclass
class Finding:
    level: str  # "ok" | "warning" | "problem"
    message: str  # what was found, and what to do about it


def versions() -> dict[str, str | None]:
    """Installed versions by distribution name (None when absent), plus Python's."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _probe(opset: int, ir_version: int) -> bool:
    import onnxruntime as ort

    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return True
    except Exception:  # ORT refuses what it does not know
        return False


def ort_limits() -> tuple[int, int]:
    """(highest opset, highest IR version) the installed ONNX Runtime accepts, by probing."""
    opset = next((o for o in range(onnx.defs.onnx_opset_version() + 5, 6, -1) if _probe(o, 8)), 0)
    ir = next((i for i in range(onnx.IR_VERSION + 3, 3, -1) if _probe(min(opset, 13), i)), 0)
    return opset, ir


def cuda_status() -> tuple[bool, str]:
    """Whether ORT's CUDA provider really runs a session here, with the reason when not."""
    from xdl import verify
    from xdl.errors import XdlError

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    try:
        verify.session(model.SerializeToString(), "cuda")
    except XdlError as exc:
        return False, str(exc)
    return True, "CUDAExecutionProvider runs sessions"


def findings(v: dict, env: dict, opset: int) -> list[Finding]:
    """Known-bad combinations, each with advice (pure: testable with made-up versions)."""
    out = []

    def major_minor(text):
        return tuple(int(p) for p in text.split(".")[:2])

    if v.get("onnxruntime") and v.get("onnxruntime-gpu"):
        out.append(Finding("problem", "onnxruntime and onnxruntime-gpu are both installed and share one module; "
                                      "`pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu`"))
    if v.get("onnx") and major_minor(v["onnx"]) < (1, 21):
        out.append(Finding("problem", f"onnx {v['onnx']} predates the external-data path traversal and link fixes "
                                      "of 1.21: `pip install 'onnx>=1.21'`"))
    if opset and opset < REQUIRED_OPSET:
        out.append(Finding("problem", f"onnxruntime runs opset <= {opset}, xdl's exports use {REQUIRED_OPSET}: "
                                      "upgrade onnxruntime"))
    backend = env.get("KERAS_BACKEND")
    if backend and backend != "tensorflow":
        out.append(Finding("problem", f"KERAS_BACKEND={backend}: the Keras export goes through tf2onnx and needs "
                                      "'tensorflow'; unset it"))
    if v.get("keras") and major_minor(v["keras"]) < (3, 0):
        out.append(Finding("problem", f"keras {v['keras']} is Keras 2; xdl's twins are Keras 3: `pip install 'keras>=3'`"))
    if v.get("tf2onnx") and v.get("keras"):
        out.append(Finding("ok", "tf2onnx.convert.from_keras fails on Keras 3 (KeyError 'keras_tensor_N'); "
                                 "xdl exports with from_function instead"))
    if v.get("tensorflow") and v.get("tensorflow-cpu"):
        out.append(Finding("warning", "tensorflow and tensorflow-cpu are both installed; keep one"))
    if v.get("torch") and "+cu" in v["torch"] and not v.get("onnxruntime-gpu"):
        out.append(Finding("warning", "a CUDA build of torch without onnxruntime-gpu: ORT will check CPU only "
                                      "(`pip install 'xdl[gpu]'`)"))
    return out


# What each extra of pyproject.toml brings, for the lines that say what a core install lacks
USES = {"tf": "Keras training and export", "torch": "PyTorch training and export",
        "data": "the digits, mnist1d and cartpole data sets", "plot": "charts (--output CHART.png)",
        "variants": "fp16 variants (xdl export variant fp16)", "dev": "the tutorials (xdl tutorials) and the tests"}


def installed_extras() -> dict[str, str | None]:
    """The version of each distribution that an extra brings (OPTIONAL in xdl/errors.py), None when
    absent: read from the packages' metadata, importing none of them."""
    from xdl.errors import OPTIONAL

    found = {}
    for distribution in dict.fromkeys(d for d, _ in OPTIONAL.values()):
        try:
            found[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[distribution] = None
    if not found.get("tensorflow") and versions().get("tensorflow-cpu"):  # the same module
        found["tensorflow"] = versions()["tensorflow-cpu"]
    return found


def missing_extras(installed: dict[str, str | None]) -> list[Finding]:
    """One warning per extra with a distribution missing (pure: testable with made-up versions):
    what it is needed for and the command that installs it. A missing extra is no problem:
    `xdl verify` needs none."""
    from xdl.errors import OPTIONAL, install_advice

    absent: dict[str, list[str]] = {}
    for distribution, extras in OPTIONAL.values():
        if not installed.get(distribution) and distribution not in absent.get(extras[0], []):
            absent.setdefault(extras[0], []).append(distribution)
    return [Finding("warning", f"not installed: {', '.join(names)} (for {USES.get(extra, extra)}): "
                               f"`{install_advice((extra,))}`; verify works without")
            for extra, names in absent.items()]


def run() -> tuple[str, int]:
    """The report as text, and the exit code (3 when a problem was found)."""
    import onnxruntime as ort

    v = versions()
    opset, ir = ort_limits()
    cuda_ok, cuda_reason = cuda_status()
    lines = ["versions:"]
    lines += [f"  {name:16} {version or '-'}" for name, version in v.items()]
    lines += [
        f"onnxruntime providers: {', '.join(ort.get_available_providers())}",
        f"CUDA: {'usable' if cuda_ok else 'not usable'}: {cuda_reason}",
        f"onnxruntime accepts up to opset {opset} and IR version {ir} (onnx writes IR {onnx.IR_VERSION}); "
        f"xdl exports use opset {REQUIRED_OPSET}",
    ]
    found = findings(v, dict(os.environ), opset) + missing_extras(installed_extras())
    lines += [f"{f.level.upper()}: {f.message}" for f in found]
    problems = [f for f in found if f.level == "problem"]
    lines.append(f"doctor: {len(problems)} problem(s)" if problems else "doctor: no problems found")
    return "\n".join(lines), EXIT_ENVIRONMENT if problems else EXIT_OK
