"""xdl in your own tests: assert that ONNX Runtime reproduces your model.

    import numpy as np
    from xdl.testing import assert_onnx_matches

    def test_my_net_exports():
        assert_onnx_matches(build_net(), np.random.default_rng(0).random((4, 8), dtype=np.float32))

Importing this module imports neither PyTorch nor TensorFlow: the check imports the framework of
the model it is given, when it is called.
"""

from __future__ import annotations

__all__ = ["assert_onnx_matches"]


def assert_onnx_matches(model, inputs, **options):
    """Exports `model` (a torch.nn.Module or keras.Model), runs it on ONNX Runtime and compares
    with the model's own outputs for `inputs`, as xdl.check does (`options` are its keywords:
    providers, required, kind, tolerance_override, dynamic, opset, save...).

    Returns:
        The report (xdl.verify.Report) when every check passed.

    Raises:
        AssertionError: any other verdict, with the report's text: a failure (outputs beyond the
            tolerance), nothing meaningful compared (reference outputs without signal), or the
            environment (a required provider that cannot run, nothing checked).
        XdlError: the check could not be made (the model fails on the inputs or cannot be
            exported, bad inputs or options), with its one line, as xdl.check raises it.
    """
    from xdl import report
    from xdl.parity import users

    result = users.check(model, inputs, **{**options, "raise_on_failure": False})
    if result.exit_code:
        raise AssertionError(f"ONNX Runtime does not reproduce the model (exit {result.exit_code}):\n"
                             f"{report.render(result)}")
    return result
