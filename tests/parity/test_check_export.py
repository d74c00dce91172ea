"""xdl.check's export of a user's model, honest (issue 28, items 4 and 5): traced on the user's
own inputs, the model's modes left as they were, the exporters' output kept out of the report
(shown with debug), a failure said in one line naming its cause, Keras models named by their
name, and Keras routes tried in turn where a graph does not take the model's inputs."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import xdl
from xdl import backends
from xdl.errors import InputError, NothingCompared

BRANCHY = '''
import torch


class Branchy(torch.nn.Module):
    """A Python branch on the input's values: torch.export refuses it, a tracer follows one side."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.linear(x)
        return -self.linear(x)


def build():
    return Branchy()
'''

NORMED = '''
def build():
    """A Normalization layer with its mean and variance set: as in keras.applications'
    EfficientNet, tf2onnx's graph of it takes them as two more inputs."""
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((6,))
    y = keras.layers.Normalization(mean=[0.5] * 6, variance=[2.0] * 6)(x)
    return keras.Model(x, keras.layers.Dense(3)(y), name="normed")
'''


def _module(tmp_path, name: str, source: str):
    """The model factory as a user writes it, in a module of its own, and that module imported."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    sys.path.insert(0, str(tmp_path))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(tmp_path))


def _positive(*shape):
    """Inputs whose sum is positive: Branchy takes its first branch on them, not on zeros."""
    return np.random.default_rng(0).uniform(0.1, 1.0, size=shape).astype(np.float32)


# --- torch -------------------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_the_graph_is_traced_on_the_users_inputs(tmp_path, monkeypatch):
    fw = backends.load("torch")
    traced = []
    export = fw.export
    monkeypatch.setattr(fw, "export", lambda *args: traced.append(args[-1]) or export(*args))
    x = _positive(3, 4)
    # The tracer follows the branch the example takes: on the zeros it was given before, the
    # negative one, and ORT would have disagreed with the model on these inputs.
    report = xdl.check(_module(tmp_path, "branchy_a", BRANCHY).build(), x, route="torchscript")
    assert report.exit_code == 0 and len(traced) == 1 and np.array_equal(traced[0][0], x)
    # what ORT cannot show on these inputs: the branch is a constant in the graph
    assert all(c.detail == "route torchscript; the tracer warned that the graph may not follow other inputs "
                           "(--debug shows where)" for c in report.checks)


@pytest.mark.timeout(120)
def test_one_row_is_traced_twice_so_that_the_batch_stays_dynamic():
    import torch

    torch.manual_seed(0)
    report = xdl.check(torch.nn.Linear(4, 2), _positive(1, 4), raise_on_failure=False)
    compared = [c for c in report.checks if c.status != "empty"]
    assert [(c.status, c.batch_size) for c in compared] == [("pass", 1)]
    # ... and one row proves nothing about the outputs following the inputs: EMPTY, not a pass
    assert report.exit_code == 3 and "one row cannot show that the outputs follow the inputs" in report.checks[-1].detail


def test_a_model_that_ignores_one_row_is_not_a_pass():
    import torch

    class Constant(torch.nn.Module):  # ignores its input: only two rows or more can tell
        def __init__(self):
            super().__init__()
            self.out = torch.nn.Parameter(torch.tensor([[0.3, -1.2, 2.0]]))

        def forward(self, x):
            return self.out + 0 * x[:, :1]

    with pytest.raises(NothingCompared):
        xdl.check(Constant(), _positive(1, 4))
    with pytest.raises(NothingCompared, match="rows of the expected output are the same"):
        xdl.check(Constant(), _positive(3, 4))


def test_a_check_whose_every_provider_is_skipped_raises_nothing_compared(monkeypatch):
    import torch

    from xdl import verify

    monkeypatch.setattr(verify, "open_session", lambda *a, **k: (None, verify.Check(
        "Linear", "torch", "cuda", "skipped", detail="no CUDA here")))
    with pytest.raises(NothingCompared, match="nothing was checked: every provider was skipped"):
        xdl.check(torch.nn.Linear(4, 2), _positive(3, 4), providers=("cuda",))


def test_an_input_used_as_floats_and_as_ids_is_compared():
    import torch

    class Mixed(torch.nn.Module):  # the same input as features and, cast, as ids: not collapsed
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear, self.embed = torch.nn.Linear(4, 3), torch.nn.Embedding(10, 3)

        def forward(self, x):
            return self.linear(x) + self.embed(x[:, 0].long())

    report = xdl.check(Mixed(), _positive(3, 4), raise_on_failure=False)
    assert report.exit_code == 0, [c.detail for c in report.checks]


@pytest.mark.timeout(120)
def test_a_data_dependent_branch_is_one_line_naming_the_cause_and_the_fix(tmp_path, capfd):
    net = _module(tmp_path, "branchy_b", BRANCHY).build()
    with pytest.raises(InputError) as info:
        xdl.check(net, _positive(3, 4))
    message = str(info.value)
    assert message.startswith("the torch exporter cannot export Branchy (route dynamo): GuardOnDataDependentSymNode: "
                              "Could not guard on data-dependent expression"), message
    assert "(at branchy_b.py:14: if x.sum() > 0:)" in message and "torch.where" in message
    assert "\n" not in message and "Next steps" not in message
    out, err = capfd.readouterr()
    assert out == err == "", "torch.export's graph dumps reached the terminal"


@pytest.mark.timeout(120)
def test_the_exporters_output_is_captured_and_shown_with_debug(tmp_path, capfd):
    net = _module(tmp_path, "branchy_c", BRANCHY).build()
    xdl.check(net, _positive(3, 4), route="torchscript")
    assert capfd.readouterr() == ("", "")
    xdl.check(net, _positive(3, 4), route="torchscript", debug=True)
    out, err = capfd.readouterr()
    assert out == "" and err.startswith("xdl: what was written while the torch exporter (torchscript) exported Branchy:")
    assert "TracerWarning: Converting a tensor to a Python boolean" in err


@pytest.mark.timeout(120)
def test_every_modules_mode_is_restored_even_when_the_export_fails(tmp_path):
    import torch

    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5)).train()
    net[1].eval()  # a frozen BatchNorm in a model being trained: train(True) would unfreeze it
    xdl.check(net, _positive(3, 4))
    assert [m.training for m in net.modules()] == [True, True, False, True]
    branchy = _module(tmp_path, "branchy_d", BRANCHY).build().train()
    with pytest.raises(InputError):
        xdl.check(branchy, _positive(3, 4))
    assert branchy.training and branchy.linear.training


def test_an_unknown_route_is_refused_naming_the_frameworks_routes():
    import torch

    with pytest.raises(InputError, match="route 'tf2onnx': a torch model exports by one of dynamo, torchscript"):
        xdl.check(torch.nn.Linear(4, 2), _positive(3, 4), route="tf2onnx")


# --- Keras -------------------------------------------------------------------------------------

@pytest.mark.timeout(180)
def test_keras_falls_back_to_a_route_whose_graph_takes_the_models_inputs(tmp_path, capfd):
    model = _module(tmp_path, "normed_a", NORMED).build()
    model.layers[-1].trainable = False
    capfd.readouterr()  # TensorFlow's start-up lines, from the user's own import of Keras
    report = xdl.check(model, _positive(4, 6))
    assert report.exit_code == 0 and {c.model for c in report.checks} == {"normed"}
    note = "route saved-model (after route tf2onnx: exported graph has 3 inputs, the contract 1)"
    assert all(c.detail == note for c in report.checks if c.status == "pass")
    assert model.trainable and [layer.trainable for layer in model.layers] == [True, True, False]  # untouched
    with pytest.raises(InputError) as info:
        xdl.check(model, _positive(4, 6), route="tf2onnx")
    assert str(info.value) == ("normed: the exported graph is unusable: route tf2onnx: exported graph has 3 inputs, "
                               "the contract 1; try --route saved-model or --route keras-export")
    assert capfd.readouterr() == ("", ""), "tf2onnx's or TensorFlow's logs reached the terminal"


@pytest.mark.timeout(180)
def test_keras_routes_export_a_plain_model_with_two_outputs():
    backends.load("keras")
    import keras

    keras.utils.set_random_seed(0)
    x = keras.Input((5,))
    model = keras.Model(x, [keras.layers.Dense(3)(x), keras.layers.Dense(2, activation="tanh")(x)])
    for route in ("saved-model", "keras-export"):
        report = xdl.check(model, _positive(4, 5), route=route)
        assert report.exit_code == 0 and {c.output for c in report.checks} == {"output_0", "output_1"}
        assert {c.model for c in report.checks} == {model.name} and model.name.startswith("functional")


@pytest.mark.slow  # two processes that import TensorFlow: half a minute
@pytest.mark.timeout(300)
def test_the_command_line_reports_the_route_and_nothing_else(tmp_path):
    (tmp_path / "normed_cli.py").write_text(textwrap.dedent(NORMED))
    r = subprocess.run([sys.executable, "-m", "xdl", "check", "normed_cli:build", "--input-shape", "3,6",
                        "--providers", "cpu"], capture_output=True, text=True, cwd=tmp_path, timeout=280)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # TensorFlow's start-up lines, tf2onnx's log: captured
    assert r.stdout.count("route saved-model (after route tf2onnx") == 2, r.stdout
    r = subprocess.run([sys.executable, "-m", "xdl", "check", "normed_cli:build", "--input-shape", "3,6",
                        "--providers", "cpu", "--route", "saved-model", "--debug"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=280)
    assert r.returncode == 0 and r.stderr.startswith("xdl: what was written while loading normed_cli:build:\n")
    assert "oneDNN" in r.stderr  # TensorFlow's start-up line, shown with --debug
    assert "route saved-model" in r.stdout and "after" not in r.stdout


def test_verify_of_a_saved_model_judges_the_runs_check_judged(tmp_path):
    """Real samples whose first two rows are equal: check (the whole example, then its first row)
    passes; verify must not cut a batch of those two rows and call it empty."""
    import torch

    torch.manual_seed(0)
    x = _positive(4, 4)
    x[1] = x[0]
    report = xdl.check(torch.nn.Linear(4, 2), x, save=tmp_path / "saved")
    assert report.exit_code == 0
    again = xdl.verify_artifacts([tmp_path / "saved"])
    assert again.exit_code == 0 and sorted({c.batch_size for c in again.checks}) == [1, 4], again.checks


def test_an_id_past_the_table_names_the_range_to_draw_from():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = torch.nn.Embedding(10, 4), torch.nn.Linear(4, 2)

        def forward(self, ids):
            return self.head(self.embed(ids).mean(1))

    ids = np.random.default_rng(0).integers(0, 50, (3, 5))
    with pytest.raises(InputError, match=r"IndexError: .*an id past a table's size\? draw them below it: "
                                         r"--input ids=SHAPE:int64:0:SIZE"):
        xdl.check(Net(), {"ids": ids})


def test_an_output_without_signal_passes_beside_one_that_carries_it():
    """A constant mask beside the logits: the run shows the graph follows the inputs, and the mask
    matched too (a pass, said so). Outputs that all lack signal stay EMPTY."""
    import torch

    class Masked(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            logits = self.linear(x)
            return {"logits": logits, "mask": torch.ones_like(logits, dtype=torch.bool)}

    report = xdl.check(Masked(), _positive(3, 4), raise_on_failure=False)
    assert report.exit_code == 0, [c.detail for c in report.checks]
    masks = [c for c in report.checks if c.output == "mask"]
    assert masks and all("no signal in this output alone" in c.detail and "beside logits" in c.detail for c in masks)

    class Blank(torch.nn.Module):  # two outputs, neither carries signal
        def forward(self, x):
            return {"a": 0 * x, "b": torch.ones_like(x, dtype=torch.bool)}

    assert xdl.check(Blank(), _positive(3, 4), raise_on_failure=False).exit_code == 3
