"""The docs' claims that code can check: the policy table, the README's size, the own-model example
run as written, every command and exit code documented, every link pointing at a page that exists,
and the list of what a new model touches."""

import re

from conftest import ROOT
from xdl.spec import tolerance

README = (ROOT / "README.md").read_text()
README_LIMIT = 12 * 1024  # bytes
DOCS = sorted((ROOT / "docs").glob("*.md"))


def test_docs_show_the_policy_the_code_applies():
    assert tolerance.markdown_table() in (ROOT / "docs" / "tolerance.md").read_text()


def test_every_docs_page_is_linked_from_the_readme_and_every_link_resolves():
    for page in DOCS:
        assert f"](docs/{page.name})" in README, f"README does not link docs/{page.name}"
    for source in (ROOT / "README.md", *DOCS):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", source.read_text()):
            assert (source.parent / target).exists(), f"{source.name} links {target}, which does not exist"


def test_readme_is_short():
    """What xdl is, the two commands, one results table, the commands and exit codes, links: the
    rest lives in docs/ (usage.md, results.md). It was 21.8 KB, half of it dated results narrative."""
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size:,} bytes, over {README_LIMIT:,}: move detail into docs/"


def test_own_model_example_runs(capsys):
    usage = (ROOT / "docs" / "usage.md").read_text()
    section = usage[usage.index("## Your own models"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "docs/usage.md", "exec"), {})
    assert "PASS" in capsys.readouterr().out


# What adding a model touches: every file the tests require of each registered model, in the
# order docs/contributing.md lists them (`{name}` the model, `{lesson}` its spec's tutorial, `{i}`
# one per ONNX input). The benchmark files are shared: a new model adds its rows there, or names
# itself as not measured, with the reason (tests/tools/test_benchmarks.py).
TOUCHES = [
    "xdl/spec/zoo/{name}.py",
    "xdl/models/{name}/__init__.py",
    "xdl/models/{name}/keras.py",
    "xdl/models/{name}/torch.py",
    "xdl/models/{name}/port.py",
    "tutorials/{lesson}.py",
    "tutorials/notebooks/{lesson}.ipynb",
    "exported_models/{name}/keras/manifest.json",
    "exported_models/{name}/keras/model.onnx",
    "exported_models/{name}/keras/model.weights.h5",
    "exported_models/{name}/keras/test_data_set_0/input_{i}.pb",
    "exported_models/{name}/keras/test_data_set_0/output_0.pb",
    "exported_models/{name}/torch/manifest.json",
    "exported_models/{name}/torch/model.onnx",
    "exported_models/{name}/torch/model.safetensors",
    "exported_models/{name}/torch/test_data_set_0/input_{i}.pb",
    "exported_models/{name}/torch/test_data_set_0/output_0.pb",
    "benchmarks/results-cpu.json",
    "benchmarks/results-cpu.txt",
    "benchmarks/routes-cpu.json",
    "benchmarks/routes-cpu.md",
    "benchmarks/scaling-cpu.json",
    "benchmarks/variants-cpu.txt",
]


def test_contributing_lists_exactly_what_a_model_touches():
    text = (ROOT / "docs" / "contributing.md").read_text()
    block = re.search(r"<!-- touches -->\n```text\n(.*?)```", text, re.S)
    assert block, "docs/contributing.md lacks the list of what a model touches (a text block after <!-- touches -->)"
    listed = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]
    assert listed == TOUCHES, "docs/contributing.md's list and tests/project/test_docs.py's TOUCHES differ"


def test_every_model_has_everything_it_touches():
    from xdl.spec import registry

    for model in registry.names():
        spec = registry.get(model)
        for template in TOUCHES:
            for i in range(len(spec.contract.inputs)) if "{i}" in template else (0,):
                path = ROOT / template.format(name=model, lesson=spec.lesson.tutorial, i=i)
                assert path.is_file(), f"{model}: no {path.relative_to(ROOT)}"
                if "{name}" not in template and "{lesson}" not in template:  # shared: the model's rows
                    assert model in path.read_text(), f"{path.relative_to(ROOT)} does not name {model}"


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
