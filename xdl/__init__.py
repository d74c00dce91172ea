"""xdl: reference models twin-defined in Keras 3 and PyTorch, exported to ONNX, verified.

The public API. Importing xdl imports neither TensorFlow nor PyTorch; the functions that
need a framework import it when called.
"""

from xdl import limits as _limits  # noqa: E402 - first: the `xdl` command holds a Ctrl-C from here on

_limits.hold_interrupts_if_command()

from xdl.errors import EnvironmentProblem, InputError, NothingCompared, ParityError, WorkerLost, XdlError  # noqa: E402
from xdl.spec import Contract, Expectations, Lesson, ModelSpec, Recipe, TensorSpec, Tolerance  # noqa: E402
from xdl.spec.registry import FRAMEWORKS, get, names  # noqa: E402
from xdl.versions import XDL as __version__  # noqa: E402


def train(*args, **kwargs):
    """Trains one twin; see xdl.training.train."""
    from xdl import training

    return training.train(*args, **kwargs)


def export(*args, **kwargs):
    """Exports a trained twin to ONNX artifacts; see xdl.exporting.export."""
    from xdl import exporting

    return exporting.export(*args, **kwargs)


def check(model, example_inputs, **kwargs):
    """Exports your torch.nn.Module or keras.Model to ONNX and checks ORT against it; see xdl.parity.users."""
    from xdl.parity.users import check as _check

    return _check(model, example_inputs, **kwargs)


def twin(keras_model, torch_model, inputs, **kwargs):
    """Ports your Keras model's weights into your PyTorch model (or back) and compares the two layer
    by layer; returns a TwinReport (see xdl.parity.twin)."""
    from xdl.parity.twin import twin as _twin

    return _twin(keras_model, torch_model, inputs, **kwargs)


def verify_artifacts(paths, providers=("cpu",), required=()):
    """Verifies artifacts with ONNX Runtime; returns a verify.Report (see xdl.verify)."""
    from xdl.verify import verify_paths

    return verify_paths(paths, providers, required)


__all__ = [
    "FRAMEWORKS", "__version__", "Contract", "EnvironmentProblem", "Expectations", "InputError", "Lesson", "ModelSpec",
    "NothingCompared", "ParityError", "Recipe", "TensorSpec", "Tolerance", "WorkerLost", "XdlError", "check", "export",
    "get", "names", "train", "twin", "verify_artifacts",
]
