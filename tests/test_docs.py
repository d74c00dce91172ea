"""The docs' claims that code can check: the policy table, the README's example run as written,
every command and exit code documented, and every link pointing at a page that exists."""

import re

from conftest import ROOT
from xdl.spec import tolerance

README = (ROOT / "README.md").read_text()
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_docs_show_the_policy_the_code_applies():
    assert tolerance.markdown_table() in (ROOT / "docs" / "tolerance.md").read_text()


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    for page in DOCS:
        assert f"](docs/{page.name})" in README, f"README does not link docs/{page.name}"
    for source in (ROOT / "README.md", *DOCS):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", source.read_text()):
            assert (source.parent / target).exists(), f"{source.name} links {target}, which does not exist"


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


def test_generated_tables_are_current():
    """The README's command and exit-code tables are rendered from the parser and
    xdl.errors.EXIT_CODES (python -m xdl.commands.docs --write); --check fails where one is stale."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "xdl.commands.docs", "--check"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("commands", "exit-codes"):
        assert f"<!-- generated: {name} -->" in README
