"""Which libraries an artifact's bytes depend on, and which versions of them are installed.

Retraining and re-exporting reproduce the committed artifacts byte for byte only under the
versions that made them. A manifest records those versions; `xdl export check` compares them
with what is installed before it calls anything stale (xdl/exporting/staleness.py).

Reads installed versions from package metadata (importlib.metadata): nothing heavy is imported.
"""

from __future__ import annotations

import platform

XDL = "0.1.0"  # xdl's own version: `xdl --version`, xdl.__version__ and every manifest

# Per kind of artifact, the distributions whose code decides its bytes:
# - a float32 export: the framework that runs the model, its exporter and what the exporter
#   builds the graph with (torch.onnx's dynamo exporter writes through onnxscript and onnx-ir),
#   onnxscript's rewriter and onnx-ir's passes (xdl's optimisation, both frameworks), onnx (xdl's
#   renaming and checker) and protobuf (the serialisation);
# - a variant: the converter that rewrites the float32 bytes (onnxconverter-common for fp16,
#   onnxruntime's quantizer for int8); static int8 also calibrates with numpy.
DEPENDS_ON = {
    "keras": ("keras", "tensorflow", "tf2onnx", "onnxscript", "onnx-ir", "onnx", "protobuf"),
    "torch": ("torch", "onnxscript", "onnx-ir", "onnx", "protobuf"),
    "fp16": ("onnxconverter-common", "onnx", "protobuf"),
    "int8": ("onnxruntime", "onnx", "protobuf"),
    "int8-static": ("onnxruntime", "onnx", "protobuf", "numpy"),
}

# One module, several distributions: the CPU-only and GPU builds install under other names.
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
}


def installed(name: str) -> str | None:
    """The installed version of distribution `name` (or of its CPU/GPU build), None if absent."""
    from importlib import metadata  # 30 ms: not at `xdl --help`, which imports this module for XDL

    for distribution in _DISTRIBUTIONS.get(name, (name,)):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def record(kind: str) -> dict[str, str | None]:
    """{library: installed version} for everything an artifact of `kind` depends on."""
    return {name: installed(name) for name in DEPENDS_ON[kind]}


def core() -> dict[str, str]:
    """The versions every export records: xdl, Python and the core libraries, as imported."""
    import numpy
    import onnx
    import onnxruntime

    return {
        "xdl": XDL,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
