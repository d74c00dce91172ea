"""docs/twin.md as written: every `xdl twin` command it shows runs in docs/examples/ with the exit
code the page gives and prints what the page shows (the numbers aside), its Python code runs, and
the port table it quotes is the one in docs/examples/twin_port_table.py. The page cannot drift
from what `xdl twin` says."""

import re
import shlex
import sys

import pytest

from conftest import ROOT

PAGE = (ROOT / "docs" / "twin.md").read_text()
EXAMPLES = ROOT / "docs" / "examples"
# <!-- xdl twin: exit N --> then a console block: `$ xdl twin ...` and what it prints
COMMANDS = re.findall(r"<!-- xdl twin: exit (\d) -->\n```console\n\$ xdl (twin [^\n]*)\n(.*?)```", PAGE, re.S)


def _numbers_aside(text: str) -> list[str]:
    """The lines, with the measured numbers (errors, losses, how many values are beyond
    tolerance) replaced and a table's spacing, which their width sets, made one space: another
    CPU may round a few values the other way; the layers named, the shapes and the explanations
    stay."""
    text = re.sub(r"\d+\.\d+(e[+-]\d+)?", "X", text)
    text = re.sub(r"\d+ of \d+ values", "N of M values", text)
    return [re.sub(r"-{2,}", "-", re.sub(r"\s+", " ", line)).strip() for line in text.strip().splitlines()]


@pytest.fixture
def in_examples(monkeypatch):
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the factories' folder, put there by the import, goes


def test_the_page_shows_every_case():
    """Every command block was found (a block the pattern misses would go unchecked)."""
    shown = [(code, command.split()[2]) for code, command, _ in COMMANDS]
    assert shown == [("2", "twin_port_table:torch_model"), ("0", "twin_port_table:torch_model"),
                     ("1", "twin_padding:torch_buggy"), ("0", "twin_padding:torch_fixed"),
                     ("0", "twin_padding:torch_fixed"), ("1", "twin_padding:torch_without_relu")]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("code, command, shown", COMMANDS, ids=[f"{n}-{c[1].split()[2].split(':')[1]}" for n, c in enumerate(COMMANDS)])
def test_each_command_prints_what_the_page_shows(code, command, shown, in_examples, capsys):
    from xdl import cli

    assert cli.main(shlex.split(command)) == int(code)
    out = capsys.readouterr()
    printed = _numbers_aside(out.out + "\n".join(line for line in out.err.splitlines() if line.startswith("xdl:")))
    expected = _numbers_aside(shown)
    if expected[0] == "...":  # an excerpt: the page's lines end the report
        expected = expected[1:]
        printed = printed[-len(expected):]
    assert printed == expected


def test_the_worked_example_names_the_layer_and_the_padding():
    verdict = next(shown for _, command, shown in COMMANDS if command.split()[2].endswith("torch_buggy"))
    assert "part at Keras layer 'down' / PyTorch module 'down'" in verdict
    assert ("pads [(0, 1), (0, 1)] (before, after) per axis; PyTorch 'down' pads [(1, 1), (1, 1)]: pad as Keras "
            "does, nn.ZeroPad2d((0, 1, 0, 1)) before it and padding=0") in verdict


@pytest.mark.timeout(300)
def test_the_python_example_runs(in_examples, capsys):
    code = re.search(r"<!-- python: docs/examples -->\n```python\n(.*?)```", PAGE, re.S).group(1)
    sys.path.insert(0, str(EXAMPLES))  # as `python` run in docs/examples/ has it
    exec(compile(code, "docs/twin.md", "exec"), {})
    assert capsys.readouterr().out.startswith("SAME: Keras 'keras_cnn' and PyTorch 'TorchCNN' are one network")


def test_the_port_table_shown_is_the_example_s():
    quoted = re.search(r"<!-- from: docs/examples/twin_port_table.py -->\n```python\n(.*?)```", PAGE, re.S).group(1)
    assert quoted in (EXAMPLES / "twin_port_table.py").read_text()
