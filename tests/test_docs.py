"""The README's claims that code can check: its policy table and its example run as written."""

import re

from conftest import ROOT
from xdl.spec import tolerance

README = (ROOT / "README.md").read_text()


def test_readme_shows_the_policy_the_code_applies():
    assert tolerance.markdown_table() in README


def test_readme_own_model_example_runs(capsys):
    section = README[README.index("### Your own models"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert "PASS" in capsys.readouterr().out


def test_readme_documents_every_command_and_exit_code():
    from xdl.cli import parser

    commands = parser()._subparsers._group_actions[0].choices
    for name in commands:
        assert f"`xdl {name}" in README, f"README lacks `xdl {name}`"
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 130 |"):
        assert code in README
