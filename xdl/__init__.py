"""xdl: reference models twin-defined in Keras 3 and PyTorch, exported to ONNX, verified.

The public API. Importing xdl imports neither TensorFlow nor PyTorch; the functions that
need a framework import it when called.
"""

__version__ = "0.1.0"

from xdl.errors import EnvironmentProblem, InputError, ParityError, XdlError  # noqa: E402
from xdl.registry import FRAMEWORKS, get, names  # noqa: E402
from xdl.spec import ModelSpec, TensorSpec, Tolerance, TrainConfig  # noqa: E402


def train(*args, **kwargs):
    """Trains one twin; see xdl.pipeline.train."""
    from xdl import pipeline

    return pipeline.train(*args, **kwargs)


def export(*args, **kwargs):
    """Exports a trained twin to ONNX artifacts; see xdl.pipeline.export."""
    from xdl import pipeline

    return pipeline.export(*args, **kwargs)


def check(model, example_inputs, **kwargs):
    """Exports your torch.nn.Module or keras.Model to ONNX and checks ORT against it; see xdl.checking."""
    from xdl.checking import check as _check

    return _check(model, example_inputs, **kwargs)


def verify_artifacts(paths, providers=("cpu",), required=()):
    """Verifies artifacts with ONNX Runtime; returns a ParityReport (see xdl.verify)."""
    from xdl.verify import verify_paths

    return verify_paths(paths, providers, required)


__all__ = [
    "FRAMEWORKS", "EnvironmentProblem", "InputError", "ModelSpec", "ParityError", "TensorSpec",
    "Tolerance", "TrainConfig", "XdlError", "check", "export", "get", "names", "train", "verify_artifacts",
]
