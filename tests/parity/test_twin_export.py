"""xdl twin --export: both models exported, each ONNX file run against both frameworks."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("keras")

pytestmark = pytest.mark.timeout(300)


def _pair(slope: float):
    import keras
    import torch
    from torch import nn

    keras_model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="hidden"),
                                    keras.layers.LeakyReLU(negative_slope=0.2, name="act"),
                                    keras.layers.Dense(3, name="out")], name="kmlp")
    torch.manual_seed(0)
    torch_model = nn.Sequential()
    torch_model.add_module("hidden", nn.Linear(6, 8))
    torch_model.add_module("act", nn.LeakyReLU(slope))
    torch_model.add_module("out", nn.Linear(8, 3))
    return keras_model, torch_model


def test_each_onnx_file_reproduces_both_frameworks():
    import xdl

    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    # trained after the export: the files are of the weights the compared outputs came from
    report = xdl.twin(*_pair(0.2), x, export=True, providers=("cpu",), train_steps=2)
    assert report.same and report.exit_code == 0 and len(report.steps) == 2, report.render()
    compared = {(c.framework, c.status) for c in report.exports if c.status != "skipped"}
    assert compared == {("keras.onnx vs keras", "pass"), ("keras.onnx vs torch", "pass"), ("torch.onnx vs torch", "pass"),
                        ("torch.onnx vs keras", "pass"), ("one contract", "pass")}, report.render()
    assert "torch.onnx vs keras on cpu (batch 4, output_0): PASS" in report.render()


def test_a_keras_image_model_is_exported_on_the_pytorch_contract():
    import keras
    from torch import nn

    import xdl

    keras_model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, name="conv"),
                                    keras.layers.GlobalAveragePooling2D(name="gap")], name="kconv")
    torch_model = nn.Sequential()
    torch_model.add_module("conv", nn.Conv2d(2, 3, 3))
    torch_model.add_module("gap", nn.AdaptiveAvgPool2d(1))
    torch_model.add_module("flat", nn.Flatten())
    x = np.random.default_rng(0).random((3, 6, 6, 2), dtype=np.float32)
    report = xdl.twin(keras_model, torch_model, x, export=True, providers=("cpu",))
    assert report.exit_code == 0, report.render()
    assert "one contract: PASS, both files take input_0 float32 ['batch', 2, 6, 6]" in report.render()


def test_the_files_of_two_different_networks_do_not_reproduce_each_other():
    import xdl

    x = np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32)
    report = xdl.twin(*_pair(0.01), x, export=True, providers=("cpu",))
    assert report.exit_code == 1 and report.first.keras == "hidden", report.render()
    assert "LeakyReLU slope" in report.explanation[0]
    crossed = {c.framework: c.status for c in report.exports}
    assert crossed["keras.onnx vs keras"] == "pass" and crossed["keras.onnx vs torch"] == "fail"


def test_train_steps_agree_for_one_network_and_part_where_only_training_differs():
    import xdl

    x = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    same = xdl.twin(*_pair(0.2), x, train_steps=3)
    assert same.exit_code == 0 and [s["step"] for s in same.steps] == [1, 2, 3], same.render()
    assert all(s["rel"] <= 1e-4 for s in same.steps) and same.steps[0]["keras"] > same.steps[-1]["keras"]
    # a frozen Keras layer computes alike and learns otherwise: the first step agrees, the second not
    keras_model, torch_model = _pair(0.2)
    keras_model.get_layer("hidden").trainable = False
    frozen = xdl.twin(keras_model, torch_model, x, train_steps=2)
    assert frozen.exit_code == 1 and frozen.steps[0]["ok"] and not frozen.steps[1]["ok"], frozen.render()
    assert frozen.verdict().startswith("DIFFER: Keras 'kmlp' and PyTorch 'Sequential' agree in inference but part in "
                                       "training at step 2")
    # models that differ already are not trained: their losses would say nothing more
    other = xdl.twin(*_pair(0.01), x, train_steps=2)
    assert other.exit_code == 1 and not other.steps
    assert "not trained (2 steps asked): the models differ before training" in other.warnings
