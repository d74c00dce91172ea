"""`xdl check`'s arguments refused before the model is loaded (in-process: the factory's module
must never be imported): --input ranges the draw cannot give, an --input named twice, an --output
that lands in the --save folder."""

import sys

import pytest

from xdl import cli
from xdl.errors import EXIT_INPUT


@pytest.fixture
def factory(tmp_path, monkeypatch):
    """A module that records being imported: none of these refusals may load the model."""
    name = f"argsnet_{id(tmp_path)}"
    (tmp_path / f"{name}.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(8, 3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield f"{name}:build"
    assert name not in sys.modules, "the model was loaded before its arguments were checked"


def _refused(capsys, args):
    assert cli.main(args) == EXIT_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xdl: error:") and "bug in xdl" not in err[0], err
    return err[0]


@pytest.mark.parametrize("spec, message", [
    ("float32:5:-5", "(float32 in [5, -5)): LOW must be below HIGH"),
    ("float32:nan:1", "LOW and HIGH must be finite numbers"),
    ("float32:-inf:inf", "LOW and HIGH must be finite numbers"),
    ("float64:-1e308:1e308", "HIGH - LOW overflows float64"),
    ("float16:0:1e6", "float16's finite values lie within +-65504"),
    ("int64:1e30:1e31", "int64 holds -9223372036854775808 to 9223372036854775807"),
    ("int32:0:2147483649", "give LOW >= -2147483648 and HIGH <= 2147483648"),
    ("int64:0:1.5", "an integer input's LOW and HIGH must be whole numbers"),
    ("bool:0:1", "a bool input takes no LOW:HIGH"),
])
def test_a_range_the_draw_cannot_give_is_one_line(factory, capsys, spec, message):
    assert message in _refused(capsys, ["check", factory, "--input", f"input_0=4,8:{spec}"])


def test_integer_bounds_are_exact_and_whole_floats_accepted():
    from xdl.commands import check

    big = 2**63 - 1
    assert check.input_range("ids", "int64", -(2**63), big + 1) == (-(2**63), big + 1)
    assert check.input_range("ids", "int64", 0, 1e3) == (0, 1000)
    assert check.input_spec(f"ids=2,5:int64:0:{big}")[3:] == (0, big)  # not rounded through a float


def test_an_input_named_twice_is_refused(factory, capsys):
    line = _refused(capsys, ["check", factory, "--input", "input_0=4,8", "--input", "input_0=4,8:float64"])
    assert "--input input_0 is given more than once" in line


@pytest.mark.parametrize("save, output, where", [
    ("s_a", "s_a/report.json", "is inside"),
    ("s_a", "s_a", "is"),
    ("out/net", "out", "holds"),
])
def test_an_output_in_the_save_folder_is_refused_before_anything_is_written(factory, tmp_path, capsys, save, output,
                                                                            where):
    line = _refused(capsys, ["check", factory, "--input-shape", "4,8", "--save", save, "--output", output])
    assert f"--output {output} {where} the --save folder {save}" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{factory.split(':')[0]}.py"]


def test_every_output_kind_the_policy_knows_is_a_kind_check_takes():
    from xdl.spec import tolerance

    for kind in tolerance.OUTPUT_KINDS:  # features (embeddings, hidden states) too, as xdl.check takes
        assert cli.parser().parse_args(["check", "m:build", "--input-shape", "2,3", "--kind", kind]).kind == kind
